"""`runbook incident ...` as parsed, and refused before anything starts."""

import pytest

from starter.cli import EXIT_USAGE, build_parser, dispatch

RESOLVE = ["incident", "resolve", "INC-1", "--resolution", "r", "--root-cause", "c"]


@pytest.fixture(autouse=True)
def a_person_acts(monkeypatch):
    """Whoever acts is a person in [people]; the login name of whoever runs the tests may not be."""
    monkeypatch.setenv("RUNBOOK_USER", "alice")


def test_every_subcommand_as_a_user_types_it():
    parse = build_parser().parse_args
    declared = parse(
        [
            "incident",
            "declare",
            "--severity",
            "P1",
            "--summary",
            "checkout failing",
            "--services",
            "market-svc,payment-svc",
            "--ack-within",
            "2m",
        ]
    )
    assert (
        declared.incident_command,
        declared.severity,
        declared.services,
        declared.ack_within,
        declared.update_every,
    ) == ("declare", "P1", "market-svc,payment-svc", "2m", None)
    updated = parse(
        [
            "incident",
            "update",
            "INC-20261126-0001",
            "--status",
            "mitigating",
            "--action",
            "rolling back",
            "--eta",
            "30m",
            "--as",
            "alice",
        ]
    )
    assert (updated.id, updated.status, updated.action, updated.eta, updated.user) == (
        "INC-20261126-0001",
        "Mitigating",
        "rolling back",
        "30m",
        "alice",
    )
    resolved = parse(
        [
            "incident",
            "resolve",
            "INC-1",
            "--resolution",
            "r",
            "--root-cause",
            "c",
            "--follow-up",
            "a",
            "--follow-up",
            "b",
        ]
    )
    assert resolved.follow_up == ["a", "b"]
    assert (resolved.improvement, resolved.force, resolved.reason) == (None, False, None)
    forced = parse(
        [*RESOLVE, "--improvement", "alert on p99", "--improvement", "canary", "--force", "--reason", "exporter down"]
    )
    assert (forced.improvement, forced.force, forced.reason) == (["alert on p99", "canary"], True, "exporter down")
    assert parse(["incident", "severity", "INC-1", "P2"]).severity == "P2"
    assert parse(["incident", "mitigate", "INC-1", "rate_limit"]).action == "rate_limit"


@pytest.mark.parametrize(
    "args",
    [
        ["incident", "declare", "--severity", "P9", "--summary", "x"],
        ["incident", "mitigate", "INC-1", "reboot"],
        ["incident", "update", "INC-1", "--status", "Panicking", "--action", "x"],
        ["incident", "severity", "INC-1"],
    ],
)
def test_bad_usage_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(args)
    assert exit_.value.code == EXIT_USAGE
    error = capsys.readouterr().err
    assert "invalid choice" in error or "the following arguments are required" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ack-within", "soon"], "bad duration 'soon'"),
        (["--services", "billing"], "unknown service 'billing'"),
        (["--summary", "   "], "empty summary"),
    ],
)
def test_bad_input_is_refused_before_anything_starts(args, message, capsys):
    base = {"--severity": "P1", "--summary": "checkout failing"}
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["incident", "declare"] + [part for key, value in {**base, **pairs}.items() for part in (key, value)]
    assert dispatch(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--force"], "--force needs --reason TEXT: why resolve what is not seen healthy"),
        (["--reason", "flapping"], "--reason goes with --force"),
        (["--force", "--reason", "  "], "empty reason"),
    ],
)
def test_a_forced_resolve_needs_a_reason_and_nothing_is_sent_without_one(args, message, capsys):
    # Refused before connecting: no stack is up here, so reaching it would exit 3, not 2.
    assert dispatch([*RESOLVE, *args]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
