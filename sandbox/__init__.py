"""A local stand-in for AWS, the Skillancer fleet and the outside services the runbook talks to.

`Sandbox(config).start()` runs it in this process; `python -m sandbox` runs it until SIGTERM.
"""

from sandbox.app import Sandbox

__all__ = ["Sandbox"]
