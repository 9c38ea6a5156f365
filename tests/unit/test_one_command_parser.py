"""The CLI builds only the parser of the command a line names (starter/parser.py, for start-up):
each command must then read, refuse and explain exactly as with every parser built."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from starter.parser import build_parser

WHOLE = build_parser()


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


COMMANDS = sorted(commands(WHOLE))


# The examples the commands' --help gives, as people will paste them (less a shell's redirection).
EXAMPLES = sorted(
    {
        tuple(shlex.split(line.split(" >")[0])[1:])
        for text in [WHOLE.format_help(), *(commands(WHOLE)[name].format_help() for name in COMMANDS)]
        for line in re.findall(r"^  (runbook .+)$", text, flags=re.M)
    }
)
LINES = [
    ["status", "deploy-production-v1", "--json"],
    ["approve", "deploy-production-v1", "--as", "bob", "--comment", "ok"],
    ["incident", "ack", "INC-1", "--as", "carol"],
    ["sandbox", "fault", "production", "payment-svc", "error"],
    ["list", "--limit", "5", "--open"],
    *map(list, EXAMPLES),
]


def answer(argv: list[str], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> tuple:
    try:
        parsed = vars(parser.parse_args(argv))
        code = None
    except SystemExit as leaving:
        parsed, code = {}, leaving.code
    out, err = capsys.readouterr()
    return parsed, code, out, err


def test_the_lines_read_the_same(capsys):
    assert len(EXAMPLES) >= 8
    for argv in LINES:
        one = build_parser(argv)
        assert list(commands(one)) == [argv[0]], "built more than the command named"
        assert answer(argv, one, capsys) == answer(argv, WHOLE, capsys), argv


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_explains_and_refuses_the_same(name, capsys):
    for argv in ([name, "--help"], [name], [name, "--no-such-option"]):
        assert answer(argv, build_parser(argv), capsys) == answer(argv, WHOLE, capsys), argv


def test_a_line_naming_no_command_gets_every_command(capsys):
    for argv in (["statsu", "x"], ["--help"]):
        told = answer(argv, build_parser(argv), capsys)
        assert told == answer(argv, WHOLE, capsys)
        assert all(name in told[2] + told[3] for name in COMMANDS), argv
    assert answer([], build_parser([]), capsys) == answer([], WHOLE, capsys)
