"""Which runbook.toml the commands read: RUNBOOK_CONFIG, else ./runbook.toml, else one line that
names both. Never the checkout's (or, installed, site-packages') file beside the code."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from runbook.config import ConfigError, config_path, load_config
from tests.support import SANDBOX_CONFIG

SCRIPTS = Path(sys.executable).parent


def with_deadline(folder: Path, deadline: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "runbook.toml"
    path.write_text(SANDBOX_CONFIG.read_text().replace('deadline = "2h"', f'deadline = "{deadline}"'))
    return path


def test_runbook_config_wins_over_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    named = with_deadline(tmp_path / "elsewhere", "3d")
    monkeypatch.chdir(with_deadline(tmp_path / "here", "5h").parent)
    monkeypatch.setenv("RUNBOOK_CONFIG", str(named))
    assert load_config().verification.deadline == timedelta(days=3)


def test_without_runbook_config_the_current_folders_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(with_deadline(tmp_path, "5h").parent)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    assert config_path() == tmp_path / "runbook.toml"
    assert load_config().verification.deadline == timedelta(hours=5)


def test_neither_is_one_line_naming_both_and_never_the_file_beside_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The checkout has a runbook.toml beside the packages, as site-packages would after an install
    # that shipped one: it must not be read from anywhere else than the current folder.
    assert SANDBOX_CONFIG.is_file()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    with pytest.raises(ConfigError) as raised:
        load_config()
    said = str(raised.value)
    assert "\n" not in said
    assert "RUNBOOK_CONFIG" in said and str(tmp_path / "runbook.toml") in said


@pytest.mark.parametrize(
    ("script", "args", "code"), [("runbook", ["status", "x"], 2), ("runbook-gateway", [], 2), ("runbook-worker", [], 1)]
)
def test_a_command_without_a_config_says_where_it_looked_and_exits(
    tmp_path: Path, script: str, args: list[str], code: int
):
    env = {"PATH": str(SCRIPTS), "HOME": str(tmp_path)}
    done = subprocess.run([SCRIPTS / script, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (code, "")
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "RUNBOOK_CONFIG is not set" in lines[0] and str(tmp_path / "runbook.toml") in lines[0]
