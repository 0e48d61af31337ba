"""``ndrtrack logs import|search|purge`` through the real command-line entry point."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SAMPLES
from ndrtrack.cli import main
from ndrtrack.logs.cli import parse_when

POSTFIX = SAMPLES / "logs" / "lab" / "postfix" / "postfix.log"


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "ndrtrack.yaml"
    path.write_text(f"store:\n  path: {tmp_path / 'index.sqlite3'}\n"
                    "logs:\n  retention_days: 30\n")
    return str(path)


def test_import_search_json_and_purge(config: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "import", "-c", config, str(POSTFIX)]) == 0
    out = capsys.readouterr().out
    assert "518 lines" in out and "lines/s" in out
    packed = tmp_path / "postfix.log.1.gz"
    packed.write_bytes(gzip.compress(POSTFIX.read_bytes()))
    assert main(["logs", "import", "-c", config, str(packed)]) == 0
    out = capsys.readouterr().out
    assert "0 lines" in out and "already indexed" in out

    assert main(["logs", "search", "-c", config, "--recipient", "unknown1@sink.test",
                 "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    trace = json.loads(line)
    assert trace["host"] == "mx" and trace["queue_ids"][0] == "18DB95141F6"
    assert trace["sender"] == "sender-15@bounces.test" and trace["outcome"] == "bounced"
    assert trace["client_ip"] == "127.0.0.1" and trace["client_host"] == "localhost"
    (rcpt,) = trace["recipients"]
    assert rcpt["status"] == "bounced" and rcpt["dsn"] == "5.1.1"
    assert "User unknown" in rcpt["reply"] and rcpt["relay"].startswith("127.0.0.1[")
    assert trace["first_at"].startswith("2026-") and trace["last_at"] >= trace["first_at"]

    assert main(["logs", "search", "-c", config, "--sender", "@bounces.test", "--status",
                 "rejected", "--since", "2026-11-28T01:00:00", "--until",
                 "2026-11-28T02:00:00Z"]) == 0
    text = capsys.readouterr().out
    assert text.count("== mx") >= 4 and "Relay access denied" in text

    assert main(["logs", "search", "-c", config, "--queue-id", "0699751422A"]) == 0
    text = capsys.readouterr().out  # a delay DSN found through the message that caused it
    assert "B544A514211" in text and "to <someone@down.test>" in text

    assert main(["logs", "search", "-c", config, "--client-ip", "bad ip"]) == 2
    capsys.readouterr()
    old = tmp_path / "old.log"  # January: older than the 30 days of logs.retention_days
    old.write_text("Jan 10 08:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[192.0.2.9]:"
                   " 554 5.7.1 <x@y.test>: Relay access denied; from=<old@a.test> to=<x@y.test>"
                   " proto=ESMTP helo=<a>\n")
    written = datetime(2020, 1, 11, tzinfo=UTC).timestamp()  # the year comes from the mtime
    os.utime(old, (written, written))
    assert main(["logs", "import", "-c", config, str(old)]) == 0
    assert main(["logs", "search", "-c", config, "--sender", "old@a.test"]) == 0
    assert "old@a.test" in capsys.readouterr().out
    assert main(["logs", "purge", "-c", config]) == 0
    assert "purged 1 message traces older than 30 days" in capsys.readouterr().out
    assert main(["logs", "search", "-c", config, "--sender", "old@a.test"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["logs", "search", "-c", config, "--queue-id", "18DB95141F6"]) == 0
    assert "18DB95141F6" in capsys.readouterr().out


def test_import_of_a_missing_file_fails(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "import", "-c", config, "/nonexistent/mail.log"]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_relative_and_absolute_times() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("30m", now) == now - timedelta(minutes=30)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2026-11-28T01:00:00", now) == datetime(2026, 11, 28, 1, tzinfo=UTC)
    assert parse_when("", now) is None
    with pytest.raises(ValueError):
        parse_when("yesterday", now)


def test_import_from_stdin_twice_adds_nothing_the_second_time(config: str) -> None:
    data = (SAMPLES / "logs" / "lab" / "sendmail" / "maillog").read_bytes()
    command = [sys.executable, "-m", "ndrtrack.cli", "logs", "import", "-c", config, "-"]
    first = subprocess.run(command, input=data, capture_output=True, timeout=60, check=True)
    assert b"217 lines" in first.stdout
    second = subprocess.run(command, input=data, capture_output=True, timeout=60, check=True)
    assert b"0 lines" in second.stdout and b"already indexed" in second.stdout
