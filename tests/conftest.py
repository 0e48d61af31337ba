"""Shared test helpers.

A test that needs a real component (postfix, dovecot, nsd, systemd-analyze, …) calls
``require_binary``: outside CI a missing one skips the test, under ``CI=true`` it fails,
so a CI run can never go green by skipping what it was meant to test.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from ndrtrack.intake.spool import Spool

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"
SHARED = ROOT.parent / "shared"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_prerequisite(what: str) -> None:
    """Skip (developer machine) or fail (CI) because ``what`` is not available."""
    if in_ci():
        pytest.fail(f"prerequisite missing under CI=true: {what}", pytrace=False)
    pytest.skip(f"prerequisite missing: {what}")


def require_binary(name: str, *extra_dirs: str) -> str:
    """Return the path of executable ``name`` or skip/fail the test."""
    path = shutil.which(name, path=os.pathsep.join([*extra_dirs, "/usr/sbin", "/sbin",
                                                     os.environ.get("PATH", "")]))
    if path is None:
        missing_prerequisite(f"executable {name!r}")
    return str(path)


def require_root() -> None:
    if os.geteuid() != 0:
        missing_prerequisite("root privileges")


def free_port(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on loopback right now (for both TCP and UDP when asked)."""
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def shared_path(*parts: str) -> Path:
    """A path inside ../shared; tests that need it skip when it is absent (it is optional)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (the project's own fixtures cover this elsewhere)")
    return path


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    """An empty spool (all state directories made) under the test's temporary directory."""
    made = Spool(tmp_path / "spool")
    made.setup()
    return made
