"""systemd/ndrtrack.service and its sysusers file, checked by systemd's own tools.

``systemd-analyze verify`` loads the unit the way PID 1 would (it must find ExecStart, so a
temp copy points at this venv's ``ndrtrack``) and prints a line for every unknown key, bad
value or missing binary; ``systemd-analyze security --offline`` scores its sandboxing.
Neither needs a running systemd.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_binary

pytestmark = pytest.mark.integration

UNIT = ROOT / "systemd" / "ndrtrack.service"
SYSUSERS = ROOT / "systemd" / "ndrtrack.sysusers.conf"
INSTALLED_BINARY = "/usr/bin/ndrtrack"
MAX_EXPOSURE = 2.5  # systemd-analyze security: 0 (locked down) … 10 (unprotected)


def venv_ndrtrack() -> str:
    path = Path(sys.executable).parent / "ndrtrack"
    found = str(path) if path.exists() else shutil.which("ndrtrack")
    assert found, "the ndrtrack console script is not installed in this environment"
    return found


def unit_settings(text: str) -> dict[str, list[str]]:
    """Key → values of the [Service] section (keys may repeat)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} " in text
    copy = tmp_path / "ndrtrack.service"
    copy.write_text(text.replace(f"ExecStart={INSTALLED_BINARY} ",
                                 f"ExecStart={venv_ndrtrack()} "))
    return copy


def verify(analyze: str, unit: Path) -> list[str]:
    done = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=60)
    output = (done.stdout + done.stderr).splitlines()
    return [line for line in output if unit.name in line or str(unit.parent) in line]


def test_verify_reports_nothing(unit_copy: Path) -> None:
    analyze = require_binary("systemd-analyze")
    assert verify(analyze, unit_copy) == []


def test_verify_would_catch_a_mistake(unit_copy: Path) -> None:
    """The check above can fail: a misspelt key and a missing binary are both reported."""
    analyze = require_binary("systemd-analyze")
    broken = unit_copy.with_name("broken.service")
    broken.write_text(unit_copy.read_text()
                      .replace("ProtectHome=", "ProtectHomes=")
                      .replace(f"ExecStart={venv_ndrtrack()} ", "ExecStart=/nonexistent/ndr "))
    problems = "\n".join(verify(analyze, broken))
    assert "ProtectHomes" in problems and "/nonexistent/ndr" in problems


def test_security_exposure_is_low(unit_copy: Path) -> None:
    analyze = require_binary("systemd-analyze")
    done = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit_copy)],
                          capture_output=True, text=True, timeout=60)
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze cannot score a unit without a running systemd "
                    "(--offline needs systemd >= 250); verify above still ran")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout


def test_unit_keeps_its_contract() -> None:
    """What the daemon and the docs rely on: notify readiness, reload by SIGHUP, the state
    directory as working directory, and no privilege beyond binding port 25."""
    settings = unit_settings(UNIT.read_text())
    expected = {
        "Type": ["notify"], "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "User": ["ndrtrack"], "StateDirectory": ["ndrtrack"],
        "WorkingDirectory": ["/var/lib/ndrtrack"], "Restart": ["on-failure"],
        "CapabilityBoundingSet": ["CAP_NET_BIND_SERVICE"],
        "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"], "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"], "PrivateTmp": ["yes"], "ProtectHome": ["yes"],
    }
    for key, values in expected.items():
        assert settings.get(key) == values, key
    assert "@system-service" in settings["SystemCallFilter"]
    assert settings["ExecStart"] == [f"{INSTALLED_BINARY} serve -c /etc/ndrtrack/ndrtrack.yaml"]


def test_exec_start_arguments_are_the_cli_s(tmp_path: Path) -> None:
    """``serve -c FILE`` is accepted; a missing config file exits 2 (so RestartPrevent…=2)."""
    done = subprocess.run([venv_ndrtrack(), "serve", "-c", str(tmp_path / "absent.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "absent.yaml" in done.stderr
    assert "RestartPreventExitStatus=2" in UNIT.read_text()


def test_sysusers_creates_the_service_user(tmp_path: Path) -> None:
    sysusers = require_binary("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    subprocess.run([sysusers, f"--root={tmp_path}", str(SYSUSERS)], check=True,
                   capture_output=True, timeout=60)
    entry = next(line for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
                 if line.startswith("ndrtrack:"))
    assert entry.split(":")[5:] == ["/var/lib/ndrtrack", "/usr/sbin/nologin"]
