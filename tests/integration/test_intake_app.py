"""The App as a whole: exit codes, systemd notifications, the optional services it wires."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from intakelab import Daemon


def test_serve_with_a_bad_config_exits_2_naming_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("intake:\n  smtp:\n    port: 70000\n  addresses: [not-an-address]\n"
                      "spool: {bogus: 1}\n")
    result = subprocess.run([sys.executable, "-m", "ndrtrack.cli", "serve", "-c", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{config}: intake.smtp.port: expected a port number 0..65535" in lines
    assert any(line.startswith(f"{config}: intake.addresses: not an email address")
               for line in lines)
    assert f"{config}: spool.bogus: unknown key" in lines


def test_check_config_says_ok(tmp_path: Path) -> None:
    d = Daemon(tmp_path)
    result = subprocess.run([sys.executable, "-m", "ndrtrack.cli", "check-config", "-c",
                             str(d.config_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip().endswith("OK")


def test_systemd_notifications(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(10)
        d = Daemon(tmp_path)
        d.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        messages = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                sum(m == "WATCHDOG=1" for m in messages) < 2:
            messages.append(sock.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        assert d.stop() == 0
        while "STOPPING=1" not in messages:
            messages.append(sock.recv(4096).decode())
    assert messages.count("WATCHDOG=1") >= 2


def test_followed_mail_log_is_indexed_by_the_daemon(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    d = Daemon(tmp_path, {"logs": {"sources": [{"path": str(log), "format": "syslog"}]}})
    d.start()
    try:
        stamp = datetime.now(UTC).strftime("%b %e %H:%M:%S")
        with log.open("a") as out:
            for line in (
                "postfix/smtpd[100]: 4ABC123: client=client.test[192.0.2.9]",
                "postfix/cleanup[101]: 4ABC123: message-id=<followed@client.test>",
                "postfix/qmgr[102]: 4ABC123: from=<alice@client.test>, size=300, nrcpt=1 "
                "(queue active)",
                "postfix/smtp[103]: 4ABC123: to=<bob@remote.test>, relay=mx.remote.test"
                "[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=2.0.0, status=sent (250 ok)",
                "postfix/qmgr[102]: 4ABC123: removed",
            ):
                out.write(f"{stamp} mx1 {line}\n")
        found = ""
        deadline = time.monotonic() + 15
        while "followed@client.test" not in found and time.monotonic() < deadline:
            time.sleep(0.2)
            found = subprocess.run(
                [sys.executable, "-m", "ndrtrack.cli", "logs", "search", "-c",
                 str(d.config_path), "--recipient", "bob@remote.test", "--json"],
                capture_output=True, text=True, timeout=30).stdout
        assert "followed@client.test" in found, d.log()
    finally:
        assert d.stop() == 0, d.log()


def test_an_unloadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    key.write_text("not a key\n")
    d = Daemon(tmp_path, {"intake": {"smtp": {"tls_cert_file": str(cert),
                                              "tls_key_file": str(key)}}})
    for command in ("check-config", "serve"):
        result = subprocess.run([sys.executable, "-m", "ndrtrack.cli", command, "-c",
                                 str(d.config_path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(
            f"{d.config_path}: intake.smtp.tls_cert_file: cannot load the certificate and key")


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    d = Daemon(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", d.smtp_port))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "ndrtrack.cli", "serve", "-c",
                                 str(d.config_path)], capture_output=True, text=True,
                                timeout=30, cwd=tmp_path)
    assert result.returncode == 1
    assert f"ndrtrack: intake.smtp: cannot listen on 127.0.0.1:{d.smtp_port}: " \
           "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_daemon_purges_old_done_entries_and_keeps_shunt(tmp_path: Path) -> None:
    d = Daemon(tmp_path, {"spool": {"done_retention_days": 7}})
    long_ago = time.time() - 8 * 86400
    for state, name in (("done", "old"), ("done", "recent"), ("shunt", "old-failure")):
        entry = d.spool / state / name
        entry.mkdir(parents=True)
        (entry / "message.eml").write_bytes(b"Subject: x\r\n\r\nbody\r\n")
        if name != "recent":
            os.utime(entry, (long_ago, long_ago))
    d.start()
    try:
        deadline = time.monotonic() + 10
        while "old" in d.entries("done") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.entries("done") == ["recent"]
        assert d.entries("shunt") == ["old-failure"]
        _, metrics = d.http_get("/metrics")
        assert "ndrtrack_spool_purged_total 1.0" in metrics
        assert 'ndrtrack_spool_entries{state="shunt"} 1.0' in metrics
    finally:
        assert d.stop() == 0, d.log()
