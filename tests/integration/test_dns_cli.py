"""``ndrtrack dns ...`` against a real NSD: text and JSON output, config, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dns_server import nsd_fixture  # noqa: F401

from dnslab import NsdServer
from ndrtrack.cli import main

pytestmark = pytest.mark.integration


def ndrtrack(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_spf_json(nsd: NsdServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "spf", "sender.test", "--json",
                            "--nameserver", nsd.address)
    data = json.loads(out)
    assert code == 0 and data["tree"]["verdict"] == "ok"
    routes = {a["value"]: " → ".join(a["path"]) for a in data["tree"]["allowed"]}
    assert routes["198.51.100.0/24"].startswith("sender.test → include:_spf.mailer.test")


def test_spf_text_with_evaluation(nsd: NsdServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "spf", "sender.test", "--ip", "203.0.113.5",
                            "--sender", "a@sender.test", "--nameserver", nsd.address)
    assert code == 0
    assert "verdict: ok" in out and "spf pass for 203.0.113.5" in out
    assert "allowed by sender.test → include:_spf.mailer.test → include:_spf2.mailer.test" \
        " → ip4:203.0.113.0/26" in out


def test_spf_over_the_limit_is_an_answer(nsd: NsdServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "spf", "toomany.sender.test",
                            "--nameserver", nsd.address)
    assert code == 0 and "verdict: permerror" in out and "limit of 10" in out


def test_spf_when_dns_cannot_be_asked(nsd: NsdServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "spf", "x.unloaded.test", "--nameserver",
                            nsd.address, "--timeout", "0.5")
    assert code == 1 and "temperror" in out


def test_mx_text(nsd: NsdServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "mx", "sender.test", "--nameserver", nsd.address)
    assert code == 0
    assert out.splitlines()[0] == "sender.test: mx"
    assert "10 mx1.sender.test  192.0.2.10, 2001:db8::10" in out and "CNAME" in out


def test_check_json(nsd: NsdServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "check", "--ip", "192.0.2.66", "--sender",
                            "bob@sender.test", "--dnsbl", "bl.test", "--json",
                            "--nameserver", nsd.address)
    data = json.loads(out)
    assert code == 0 and data["spf"]["result"] == "fail"
    assert data["rdns"]["fcrdns"] is False and data["dnsbl"][0]["status"] == "listed"


def test_check_reads_the_config(nsd: NsdServer, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ndrtrack.yaml"
    config.write_text(f"dns:\n  nameservers: ['{nsd.address}']\n  timeout: 1\n"
                      "  dnsbl_zones: [bl.test]\n")
    code, out, _ = ndrtrack(capsys, "dns", "check", "-c", str(config), "--ip", "192.0.2.10",
                            "--sender", "a@sender.test", "--helo", "mx1.sender.test")
    assert code == 0
    assert "SPF:   pass" in out and "FCrDNS: yes; in sender's domain (sender.test): yes" in out
    assert "DNSBL: bl.test: clear" in out and f"@{nsd.address}" in out


def test_dmarc(nsd: NsdServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ndrtrack(capsys, "dns", "dmarc", "news.sender.test", "--selector", "x",
                            "--nameserver", nsd.address)
    assert code == 0 and "p=quarantine" in out and "DKIM x: missing" in out


@pytest.mark.parametrize("argv", [
    ["dns", "mx", "sender.test", "--nameserver", "127.0.0.1:notaport"],
    ["dns", "mx", "sender.test", "-c", "/nonexistent/ndrtrack.yaml"],
    ["dns", "check", "--ip", "not-an-ip", "--sender", "a@b.test"],
])
def test_usage_and_config_errors_exit_2(argv: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse rejects the value itself
        code = int(exc.code or 0)
    capsys.readouterr()
    assert code == 2


def test_installed_command(nsd: NsdServer) -> None:
    done = subprocess.run([sys.executable, "-m", "ndrtrack.cli", "dns", "mx", "nullmx.sender.test",
                           "--nameserver", nsd.address], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "nullmx.sender.test: null"
