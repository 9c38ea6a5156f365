"""Every `runbook` command line as argparse reads it: commands, options, choices and help texts.

Imports only the standard library and light modules, so that `runbook --help`, `runbook CMD --help`
and a usage error (exit 2) answer without loading temporalio, boto3, the workflows or activities:
starter/cli.py imports the command implementations only once the arguments are parsed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

from runbook import limits
from runbook.incident_terms import MITIGATIONS, UPDATE_STATUSES
from runbook.severity import Severity
from starter.completion import running_procedures, shell_script
from starter.console import EXIT_USAGE, default_user, user_name

FAULT_MODES = ["5xx", "slow", "db", "cpu", "down", "silent", "clear"]
GITHUB_FAILURES = ["ci", "review", "release_notes", "none"]
KINDS = ["verification", "deployment", "hotfix", "rollback", "redeploy", "incident", "action-item"]
SEVERITIES = [severity.value for severity in Severity]
SHELLS = ["bash", "zsh"]
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 20, 1000

EPILOG = """\
examples:
  runbook deploy production --version v1.2.0 --follow
  runbook approve deploy-production-v1.2.0-20261130-170211-ab12 --comment "staging checked"
  runbook status deploy-production-v1.2.0-20261130-170211-ab12 --follow > deploy.log
  runbook rollback production payment-svc --reason "5xx after v1.2.0"
  runbook incident declare --severity P1 --summary "checkout failing" --services payment-svc
  runbook list --open

exit codes:
  0  done, or healthy
  1  the procedure failed, was rejected or rolled back; or unhealthy
  2  bad usage or input refused: nothing was changed
  3  the stack or Temporal cannot be reached

Tab completion: eval "$(runbook completion bash)" in ~/.bashrc (zsh: in ~/.zshrc, with zsh)."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Examples keep their lines (argparse would rejoin an epilog into one paragraph).
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.bounds: dict[str, tuple[str, int]] = {}  # dest -> (the argument's name, at most this long)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def add_text(self, *names: str, limit: int, **options: Any) -> argparse.Action:
        """A free-text argument of at most `limit` characters (runbook/limits.py, as its payload has)."""
        action = self.add_argument(*names, **options)
        self.bounds[action.dest] = (names[0], limit)
        return action

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # After parsing, so that a default (`--as` from RUNBOOK_USER) is bounded as a typed value is.
        parsed, extras = super().parse_known_args(args, namespace)
        for dest, (name, limit) in self.bounds.items():
            value = getattr(parsed, dest, None)
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and len(text) > limit:
                    self.error(f"bad {name}: {len(text):,} characters; at most {limit:,} characters")
        return parsed, extras


class _PrintVersion(argparse.Action):
    """`runbook --version`: the installed package's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from importlib.metadata import version

        print(f"runbook {version('runbook')}")
        parser.exit(0)


class _PrintCompletion(argparse.Action):
    """`runbook completion SHELL`: the script, printed while parsing, so that the `eval` in every
    new shell's rc file costs no more than `runbook --help` (the commands' imports are not made)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, shell: Any, *_: Any) -> NoReturn:
        print(shell_script(shell), end="")
        parser.exit(0)


def list_limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST_LIMIT:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: a whole number from 1 to {MAX_LIST_LIMIT}")
    return int(text)


def example_epilog(example: str) -> str | None:
    return f"example:\n  {example}" if example else None


def add_procedure_id(parser: _Parser, help_text: str | None = None) -> None:
    """A procedure's ID, completed in the shell with those running now."""
    action = parser.add_argument("id", help=help_text)
    action.completer = running_procedures  # type: ignore[attr-defined]  # argcomplete reads it


class _NotBuilt:
    """The parser of a command this command line does not name: what is added to it is dropped."""

    def __getattr__(self, name: str) -> Callable[..., _NotBuilt]:
        return self._drop

    def _drop(self, *_: Any, **__: Any) -> _NotBuilt:
        return self


class _Commands(argparse._SubParsersAction):
    """runbook's commands. Given the one a command line names, only its parser is built: building
    all of them, some 40 parsers and 170 arguments, was most of what the CLI itself adds to a
    query's start-up (bench/cli_speed.py)."""

    only: str | None = None

    def add_parser(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.only is not None and name != self.only:
            return _NotBuilt()
        return super().add_parser(name, *args, **kwargs)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the command line it will parse, one that knows only its command
    (the whole one when the line names none, or no command there is: --help, --version, a typo)."""
    only = argv[0] if argv and not argv[0].startswith("-") else None
    if only is not None:
        parser, commands = _parser(only)
        if only in commands.choices:
            return parser
    return _parser(None)[0]


def _parser(only: str | None) -> tuple[argparse.ArgumentParser, _Commands]:
    parser = _Parser(
        prog="runbook", description="Skillancer's deployment runbook as durable Temporal workflows.", epilog=EPILOG
    )
    parser.add_argument("--version", action=_PrintVersion, help="print the installed version and exit")
    command_parsers = cast(_Commands, parser.add_subparsers(dest="command", required=True, action=_Commands))
    command_parsers.only = only

    def command(name: str, help_text: str, *, json_flag: bool = True, user: bool = False, example: str = "") -> _Parser:
        sub: _Parser = command_parsers.add_parser(
            name, help=help_text, description=help_text, epilog=example_epilog(example)
        )
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print the result as JSON")
        if user:
            add_user(sub)
        return sub

    health = command("health-check", "check an environment's health endpoints (the runbook's health-check.sh)")
    health.add_argument("environment")
    health.add_argument(
        "--full", action="store_true", help="also dashboard, circuit breakers, auth status and latency budgets"
    )

    verify = command("verify", "run Post-Deployment Verification as a workflow", user=True)
    verify.add_argument("environment")
    verify.add_argument("--full", action="store_true", help="full health checks and latency budgets")
    verify.add_argument(
        "--manual", action="store_true", help="also wait for the manual checklist (ticked with `runbook check`)"
    )

    check = command("check", "tick a checklist item of a running verification or production deployment", user=True)
    add_procedure_id(check)
    check.add_text("item", limit=limits.CHECKLIST_ITEM)
    check.add_argument("--fail", action="store_true", help="the item failed")
    check.add_text("--note", limit=limits.NOTE, default="", help="what you saw")

    rollback = command(
        "rollback",
        "roll back services to the previous (or a named) version",
        user=True,
        example='runbook rollback production payment-svc --reason "5xx after v1.2.0" --yes',
    )
    rollback.add_argument("-y", "--yes", action="store_true", help="start at once, without confirmation")
    rollback.add_argument("environment")
    rollback.add_argument("service", help="a service, or all")
    rollback.add_argument("version", nargs="?", help="roll back to this version (default: the previous revision)")
    rollback.add_text("--reason", limit=limits.NOTE, help="why (default: manual rollback by USER)")

    assess = command("assess", "apply the rollback decision matrix to live figures; takes no action")
    assess.add_argument("environment")
    assess.add_argument("--services", help="comma-separated services (default: all)")

    deploy = command(
        "deploy",
        "Standard Deployment: prerequisites, staging, approval, production, monitoring",
        user=True,
        example="runbook deploy production --version v1.2.0 --services payment-svc,auth-svc --follow",
    )
    deploy.add_argument("environment")
    deploy.add_argument("--version", required=True, help="the release tag to deploy, e.g. v1.2.0")
    deploy.add_argument("--services", default="all", help="all (default) or a,b")
    deploy.add_argument("--follow", action="store_true", help="follow it live until it ends")
    add_no_checklist(deploy)

    hotfix = command(
        "hotfix", "Hotfix Deployment: fix on main with CI green, immediate approval, production", user=True
    )
    hotfix.add_argument("environment")
    hotfix.add_argument("--version", required=True, help="the hotfix release tag, e.g. v1.2.1")
    hotfix.add_argument("--services", required=True, help="a,b")
    hotfix.add_argument(
        "--skip-staging", action="store_true", help="only when this version already passed verification on staging"
    )
    hotfix.add_argument("--incident", default="", help="the incident this hotfix fixes, e.g. INC-20261126-0001")
    hotfix.add_argument("--follow", action="store_true", help="follow it live until it ends")
    add_no_checklist(hotfix)

    approve = command(
        "approve",
        "approve a deployment waiting at its approval gate",
        user=True,
        example='runbook approve deploy-production-v1.2.0-20261130-170211-ab12 --comment "staging checked"',
    )
    add_procedure_id(approve)
    approve.add_text("--comment", limit=limits.NOTE, default="", help="what you checked")
    add_key(approve)

    reject = command("reject", "reject a deployment at its approval gate", user=True)
    add_procedure_id(reject)
    reject.add_text("--reason", limit=limits.NOTE, required=True, help="why")
    add_key(reject)

    decide_cmd = command("decide", "answer a deployment that asks: monitoring (slow, no data), failed flow", user=True)
    add_procedure_id(decide_cmd)
    decide_cmd.add_argument("action", choices=["rollback", "continue"], metavar="ACTION", help="rollback or continue")
    decide_cmd.add_text("--note", limit=limits.NOTE, default="", help="why")
    add_key(decide_cmd)

    done = command("done", "close a post-mortem's action item: its owner is reminded no more", user=True)
    done.add_argument("id", help="the action item, e.g. INC-20261126-0001-item-1")
    done.add_text("--note", limit=limits.NOTE, required=True, help="what was done (a PR, a ticket)")

    cancel = command("cancel", "cancel a procedure; a deployment rolls back what it changed")
    add_procedure_id(cancel)

    status = command(
        "status",
        "show a procedure's steps, approvals and timeline",
        example="runbook status deploy-production-v1.2.0-20261130-170211-ab12 --follow",
    )
    add_procedure_id(status)
    status.add_argument(
        "--follow",
        action="store_true",
        help="show each change until it ends: redrawn on a terminal, a line per change in a pipe or file,"
        " one object per change with --json",
    )

    listing = command("list", "list procedures, newest first")
    # A closed list: an unknown kind would list nothing, and the value goes into a visibility query.
    listing.add_argument("--kind", choices=KINDS, metavar="KIND", help="only this kind: " + ", ".join(KINDS))
    listing.add_argument("--open", action="store_true", help="only running ones")
    listing.add_argument(
        "--limit",
        type=list_limit,
        default=DEFAULT_LIST_LIMIT,
        metavar="N",
        help=f"at most N, 1 to {MAX_LIST_LIMIT} (default {DEFAULT_LIST_LIMIT})",
    )

    ecs = command("ecs", "a service's ECS deployments: task definitions, rollout states and task counts")
    ecs.add_argument("environment")
    ecs.add_argument("service")

    logs = command("logs", "a service's task logs from CloudWatch Logs, oldest first")
    logs.add_argument("environment")
    logs.add_argument("service")
    logs.add_argument("--since", default="10m", help="from this long ago (default 10m): 30s, 10m, 1h, 2d")
    logs.add_text("--filter", limit=limits.NOTE, default="", help="only lines containing this text (case-sensitive)")
    logs.add_argument(
        "--follow", action="store_true", help="keep printing new lines until Ctrl-C (--json: one object per line)"
    )

    redeploy = command(
        "redeploy", "force a new deployment of a service's current revision, holding the environment's lock", user=True
    )
    redeploy.add_argument("environment")
    redeploy.add_argument("service")
    redeploy.add_text("--reason", limit=limits.NOTE, required=True, help="why")

    add_incident_parser(command_parsers)

    completion = command_parsers.add_parser(
        "completion",
        help="print the shell script that completes runbook's commands and IDs",
        description="print the shell script that completes runbook's commands and IDs; in ~/.bashrc:"
        ' eval "$(runbook completion bash)", in ~/.zshrc: eval "$(runbook completion zsh)"',
    )
    completion.add_argument("shell", choices=SHELLS, action=_PrintCompletion, help=" or ".join(SHELLS))

    sandbox = command_parsers.add_parser("sandbox", help="control the local sandbox")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True, parser_class=_Parser)
    fault = sandbox_commands.add_parser("fault", help="break (or heal) a simulated service")
    fault.add_argument("environment")
    fault.add_argument("service")
    fault.add_argument("mode", choices=FAULT_MODES, metavar="MODE", help="one of " + ", ".join(FAULT_MODES))
    fault.add_argument("--delay", default="6s", help="response delay for `slow` (default 6s)")
    fault.add_argument("--json", action="store_true", help="print the result as JSON")
    github = sandbox_commands.add_parser(
        "github", help="make one deployment prerequisite fail in the GitHub fake (or none)"
    )
    github.add_argument(
        "failing", choices=GITHUB_FAILURES, metavar="PREREQUISITE", help="one of " + ", ".join(GITHUB_FAILURES)
    )
    pagerduty = sandbox_commands.add_parser("pagerduty", help="act in the PagerDuty fake as a person does in PagerDuty")
    pagerduty_commands = pagerduty.add_subparsers(dest="pagerduty_command", required=True, parser_class=_Parser)
    ack = pagerduty_commands.add_parser("ack", help="acknowledge an incident in PagerDuty as a person (--as)")
    ack.add_argument("id", metavar="INCIDENT-ID", help="the runbook's incident ID (the PagerDuty incident key)")
    add_user(ack)
    ack.add_argument(
        "--no-webhook",
        action="store_true",
        help="PagerDuty sends the gateway no webhook: the worker finds the acknowledgement by polling alone",
    )
    ack.add_argument("--json", action="store_true", help="print the result as JSON")
    slack = sandbox_commands.add_parser("slack", help="act in the Slack fake as a person does in Slack")
    slack_commands = slack.add_subparsers(dest="slack_command", required=True, parser_class=_Parser)
    click = slack_commands.add_parser(
        "click", help="click a message's button as a person (--as): Slack sends it to the gateway, signed"
    )
    click.add_argument(
        "target", metavar="MESSAGE_OR_WORKFLOW", help="the message's ts, or the workflow whose newest message it is"
    )
    click.add_argument("action", metavar="ACTION", help="the button: approve, reject, rollback, continue, acknowledge")
    add_user(click)
    click.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser, command_parsers


def add_no_checklist(deployment: _Parser) -> None:
    """Production's key user flows (the manual checklist) skipped, on record: never without a reason."""
    deployment.add_argument(
        "--no-checklist", action="store_true", help="skip the key user flows after production (needs --reason)"
    )
    deployment.add_text("--reason", limit=limits.NOTE, help="why the checklist is skipped (with --no-checklist)")


def add_incident_parser(commands: Any) -> None:
    """`runbook incident declare|ack|update|mitigate|resolve|severity`."""
    incident = commands.add_parser(
        "incident", help="Incident Response: declare, acknowledge, update, mitigate, resolve, regrade"
    )
    subcommands = incident.add_subparsers(dest="incident_command", required=True)

    def subcommand(name: str, help_text: str, *, names_incident: bool = True, example: str = "") -> _Parser:
        sub: _Parser = subcommands.add_parser(
            name, help=help_text, description=help_text, epilog=example_epilog(example)
        )
        if names_incident:
            add_procedure_id(sub, "the incident, e.g. INC-20261126-0001")
        add_user(sub)
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        return sub

    declare = subcommand(
        "declare",
        "declare an incident: alert, page the on-call, and the procedure its severity obliges",
        names_incident=False,
        example='runbook incident declare --severity P1 --summary "checkout failing" --services payment-svc',
    )
    declare.add_argument(
        "--severity",
        required=True,
        choices=SEVERITIES,
        help="P1 service down · P2 major feature · P3 minor feature · P4 cosmetic",
    )
    declare.add_text("--summary", limit=limits.SUMMARY, required=True, help='what users see, e.g. "checkout failing"')
    declare.add_argument("--services", help="affected services, comma-separated (default: none named)")
    declare.add_argument(
        "--ack-within", help="drill: acknowledgement due after this (e.g. 2m) instead of the severity's"
    )
    declare.add_argument("--update-every", help="drill: updates this often (e.g. 1m) instead of every 15m")

    ack = subcommand("ack", "acknowledge an incident (the response time stops)")
    ack.add_text("--note", limit=limits.NOTE, default="", help="what you are doing")
    add_key(ack)

    update = subcommand("update", "tell the commander's latest: the next regular update carries it")
    update.add_argument(
        "--status", required=True, type=str.capitalize, choices=UPDATE_STATUSES, help=", ".join(UPDATE_STATUSES)
    )
    update.add_text("--action", limit=limits.NOTE, required=True, help="what we are doing")
    update.add_text("--eta", limit=limits.ETA, default="Unknown", help="estimated time to resolution")

    mitigate = subcommand("mitigate", "mitigate an incident that is not deployment-related")
    mitigate.add_argument("action", choices=MITIGATIONS, metavar="ACTION", help=", ".join(MITIGATIONS))
    mitigate.add_argument("--services", help="comma-separated (default: the incident's)")
    mitigate.add_text("--reason", limit=limits.NOTE, default="", help="why")
    add_key(mitigate)

    resolve = subcommand(
        "resolve",
        "resolve once the services are seen healthy: the Resolved message, status page and page resolved,"
        " the post-mortem written",
    )
    resolve.add_text("--resolution", limit=limits.POSTMORTEM, required=True, help="what fixed it")
    resolve.add_text("--root-cause", limit=limits.POSTMORTEM, required=True, help="why it happened")
    resolve.add_text(
        "--impact",
        limit=limits.POSTMORTEM,
        default="",
        help="summary of the impact (default: the summary it was declared with)",
    )
    resolve.add_text(
        "--follow-up",
        limit=limits.POSTMORTEM,
        action="append",
        metavar="TEXT[;owner=NAME][;due=DURATION]",
        help="an action item, followed up until `runbook done`: owner (default: you) and due"
        " (default: [incidents] action_item_due, 14d) optional; repeat for more",
    )

    resolve.add_text(
        "--improvement",
        limit=limits.POSTMORTEM,
        action="append",
        metavar="TEXT",
        help="what the post-mortem should improve; repeat for more",
    )
    resolve.add_argument(
        "--force", action="store_true", help="resolve though the services are not seen healthy (needs --reason)"
    )
    resolve.add_text("--reason", limit=limits.NOTE, help="why --force: on the record and in the post-mortem")

    severity = subcommand("severity", "regrade an incident at once: its timers and obligations follow")
    severity.add_argument("severity", choices=SEVERITIES, metavar="SEVERITY", help=", ".join(SEVERITIES))
    severity.add_text("--reason", limit=limits.NOTE, default="", help="why")


def add_key(parser: _Parser) -> None:
    """`--key`: the decision signed with the person's SSH key, so that it counts as theirs (starter/signing.py)."""
    parser.add_argument(
        "--key",
        metavar="PATH",
        help="sign with this SSH private key, one of yours in [people]"
        " (default: RUNBOOK_SSH_KEY, then ssh-agent; none: unsigned)",
    )


def add_user(parser: _Parser) -> None:
    """`--as`: who acts, named in every record the command leaves."""
    parser.add_text(
        "--as",
        limit=limits.USER,
        dest="user",
        type=user_name,
        default=default_user(),
        help="who acts, a person in [people] (default: RUNBOOK_USER, then the login name)",
    )
