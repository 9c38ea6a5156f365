"""`make bench` (`python -m bench`): the runbook's performance figures, each against its target.

Every benchmark starts the parts it needs on free ports (a Temporal dev server, the sandbox, the
worker) with a runbook.toml of its own, and stops them before the next begins; nothing here is a
test, and nothing here runs in `make test`.
"""
