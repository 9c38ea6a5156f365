"""What people expect of a command-line tool: --version, --help with examples and the exit codes,
`list --limit`, and tab completion in bash and zsh (argcomplete's protocol, as the shell speaks it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from starter.commands import newest_procedures, say_if_more
from tests.unit.test_cli_startup import HEAVY, probe

ROOT = Path(__file__).resolve().parents[2]
# An address nothing listens on: completing an ID cannot reach Temporal.
NOWHERE = {"TEMPORAL_ADDRESS": "127.0.0.1:9"}


def runbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "starter", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_version_prints_the_installed_version_and_imports_nothing_heavy():
    from importlib.metadata import version

    done = runbook("--version")
    assert (done.returncode, done.stdout) == (0, f"runbook {version('runbook')}\n")
    assert probe(["--version"], (*HEAVY, "argcomplete")) == {"code": 0, "loaded": []}


def test_help_ends_with_examples_and_the_exit_codes():
    done = runbook("--help")
    assert done.returncode == 0
    examples, codes = done.stdout.split("examples:\n")[1].split("exit codes:\n")
    assert "  runbook deploy production --version v1.2.0 --follow\n" in examples
    assert [line.split()[0] for line in codes.splitlines() if line.startswith("  ")] == ["0", "1", "2", "3"]
    assert "3  the stack or Temporal cannot be reached" in codes


@pytest.mark.parametrize(
    ("command", "example"),
    [
        (["deploy"], "runbook deploy production --version v1.2.0"),
        (["approve"], "runbook approve deploy-production-"),
        (["status"], "--follow"),
        (["rollback"], "runbook rollback production payment-svc"),
        (["incident", "declare"], 'runbook incident declare --severity P1 --summary "checkout failing"'),
    ],
)
def test_key_commands_carry_an_example_kept_on_its_own_line(command, example):
    done = runbook(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.split("example:\n  ")[1].startswith(f"runbook {' '.join(command)}")
    assert example in done.stdout


@pytest.mark.parametrize("limit", ["0", "1001", "-3", "twenty", "2.5"])
def test_a_limit_out_of_range_is_one_line_naming_it_exit_2(limit):
    done = runbook("list", "--limit", limit)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"runbook list: error: argument --limit: bad value {limit!r}: a whole number from 1 to 1000"
    ]


class ListingServer:
    """A client whose list query holds `count` procedures, newest first, and records how many were asked for."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: list[int | None] = []

    def list_workflows(self, query: str, *, limit: int | None = None):
        self.asked.append(limit)

        async def executions():
            for number in range(min(self.count, limit or self.count)):
                yield SimpleNamespace(id=f"deploy-{self.count - number}")

        return executions()


@pytest.mark.parametrize(("count", "more"), [(25, True), (20, False), (3, False)])
def test_list_reads_only_what_it_shows_and_knows_when_there_is_more(count, more, capsys):
    server = ListingServer(count)
    shown, found_more = asyncio.run(newest_procedures(server, "RunbookKind IS NOT NULL", 20))  # type: ignore[arg-type]
    assert [execution.id for execution in shown] == [f"deploy-{count - n}" for n in range(min(count, 20))]
    assert found_more is more
    # The server is asked for one more than is shown, never for the whole namespace.
    assert server.asked == [21]
    say_if_more(found_more, 20)
    assert capsys.readouterr().err == ("20 shown; --limit N for more (up to 1000)\n" if more else "")


def complete(line: str, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """What `runbook` offers for `line` (the cursor at its end) as bash asks it: the candidates and stderr."""
    out = tmp_path / "completions"
    done = runbook(
        env={
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            **(env or {}),
        }
    )
    assert done.returncode == 0, done.stderr
    # A lone candidate ends with the space the shell is to type after it.
    return [candidate.rstrip(" ") for candidate in out.read_text().split("\n")], done.stderr


def test_completion_offers_commands_options_and_choices(tmp_path):
    assert complete("runbook sta", tmp_path)[0] == ["status"]
    # Options once a dash is typed, not among the IDs before it.
    assert "--follow" not in complete("runbook status ", tmp_path, NOWHERE)[0]
    assert set(complete("runbook status --", tmp_path)[0]) == {"--help", "--json", "--follow"}
    assert complete("runbook list --li", tmp_path)[0] == ["--limit"]
    assert set(complete("runbook list --kind ", tmp_path)[0]) >= {"deployment", "incident", "action-item"}
    assert set(complete("runbook incident ", tmp_path)[0]) >= {"declare", "ack", "resolve"}


@pytest.mark.parametrize("command", ["status", "approve", "reject", "cancel", "check", "incident ack"])
def test_completing_an_id_without_temporal_offers_nothing_and_says_nothing(command, tmp_path):
    candidates, stderr = complete(f"runbook {command} deploy-", tmp_path, NOWHERE)
    assert candidates == [""] and stderr == ""


def test_the_completion_script_for_each_shell(tmp_path):
    bash, zsh = runbook("completion", "bash"), runbook("completion", "zsh")
    assert bash.returncode == zsh.returncode == 0
    assert "complete -o nospace -o default -o bashdefault -F _python_argcomplete runbook" in bash.stdout
    assert "#compdef runbook" in zsh.stdout
    # bash itself reads the script without an error.
    script = tmp_path / "runbook.bash"
    script.write_text(bash.stdout)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert probe(["completion", "bash"], HEAVY) == {"code": 0, "loaded": []}


def test_a_command_does_not_load_argcomplete_unless_the_shell_asks():
    assert probe(["--help"], ("argcomplete",)) == {"code": 0, "loaded": []}
    assert probe(["list"], ("argcomplete",), NOWHERE)["loaded"] == []
