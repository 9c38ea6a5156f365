"""What the runbook says to people, one module per procedure kind, from the procedures' facts."""
