"""Faults the intake must survive: a full or read-only spool, SIGTERM mid-transaction, SIGHUP.

A full spool is a real tmpfs of a few hundred KiB and a read-only one is the same tmpfs
remounted ``ro`` (as root; chmod does not stop root).  The promise: ``451 4.3.0``, never a
5xx, nothing half-written in ``new/``, and the daemon keeps serving.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_binary, require_root
from intakelab import INTAKE, Daemon, deep_merge, message


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    require_root()
    mount = require_binary("mount")
    target = tmp_path / "spool"
    target.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=320k,mode=0755", "tmpfs", str(target)],
                   check=True, timeout=30)
    try:
        yield target
    finally:
        subprocess.run([require_binary("umount"), "-l", str(target)], check=False, timeout=30)


def complete_entries(d: Daemon) -> list[str]:
    """Every entry in new/ or done/ must be whole: message and envelope, sizes agreeing."""
    ids = []
    for state in ("new", "processing", "done"):
        for entry_id in d.entries(state):
            directory = d.spool / state / entry_id
            envelope = json.loads((directory / "envelope.json").read_text())
            assert (directory / "message.eml").stat().st_size == envelope["size"], entry_id
            ids.append(entry_id)
    return ids


def send_one(d: Daemon, data: bytes) -> tuple[int, bytes]:
    with d.smtp() as client:
        client.ehlo("client.test")
        client.mail("sender@client.test")
        client.rcpt(INTAKE)
        return client.data(data)


def test_full_spool_answers_451_and_leaves_no_partial_entry(tmp_path: Path, tmpfs: Path) -> None:
    d = Daemon(tmp_path, {"spool": {"path": str(tmpfs)}}).start()
    try:
        big = message(body=("x" * 76 + "\r\n") * 600)  # ~47 KB
        replies = [send_one(d, big) for _ in range(12)]
        codes = [code for code, _ in replies]
        assert 250 in codes and 451 in codes, codes
        assert all(code in (250, 451) for code in codes), replies  # never a 5xx
        for code, text in replies:
            if code == 451:
                assert text.startswith(b"4.3.0"), text
                assert b"Errno" not in text and b"No space" not in text  # no internals leaked
        assert d.alive() and d.http_get("/healthz")[0] == 200
        with d.smtp() as client:
            assert client.ehlo("client.test")[0] == 250
        # counted once the daemon has stopped: the runner moves entries between states (and
        # back to new/ while the disk is full), so a count while it runs could miss one
        assert d.stop() == 0, d.log()
        accepted = sum(1 for code in codes if code == 250)
        assert len(complete_entries(d)) == accepted
        assert d.entries("tmp") == []
    finally:
        assert d.stop() == 0, d.log()


def test_read_only_spool_answers_451_then_recovers(tmp_path: Path, tmpfs: Path) -> None:
    mount = require_binary("mount")
    d = Daemon(tmp_path, {"spool": {"path": str(tmpfs)}}).start()
    try:
        assert send_one(d, message())[0] == 250
        subprocess.run([mount, "-o", "remount,ro", str(tmpfs)], check=True, timeout=30)
        code, text = send_one(d, message())
        assert (code, text.split()[0]) == (451, b"4.3.0"), text
        status, body = d.http_get("/readyz")
        assert status == 503 and json.loads(body)["checks"]["spool_writable"] is False
        subprocess.run([mount, "-o", "remount,rw", str(tmpfs)], check=True, timeout=30)
        assert send_one(d, message())[0] == 250
        d.wait_processed()
        assert len(complete_entries(d)) == 2
    finally:
        assert d.stop() == 0, d.log()


def test_sigterm_lets_the_transaction_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    d = Daemon(tmp_path).start()
    client = d.smtp()
    client.ehlo("client.test")
    client.mail("sender@client.test")
    client.rcpt(INTAKE)
    d.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert d.alive()  # waiting for our transaction
    with pytest.raises(OSError):  # no new connections any more
        d.smtp()
    code, reply = client.data(message(message_id="<inflight@client.test>"))
    assert code == 250, reply
    assert d.proc is not None and d.proc.wait(15) == 0
    assert "stopped" in d.log()
    client.close()


def wait_for_log(d: Daemon, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{d.log()}")


def rcpt_code(d: Daemon, rcpt: str) -> int:
    with d.smtp() as client:
        client.ehlo("client.test")
        client.mail("sender@client.test")
        return client.rcpt(rcpt)[0]


def test_sighup_keeps_the_old_config_when_the_new_one_is_bad(tmp_path: Path) -> None:
    d = Daemon(tmp_path).start()
    try:
        good = d.settings
        bad = deep_merge(good, {"intake": {"smtp": {"port": 99999}, "bogus": 1}})
        d.write_config(bad)
        d.signal(signal.SIGHUP)
        wait_for_log(d, "intake.smtp.port: expected a port number")
        assert "intake.bogus: unknown key" in d.log()
        assert d.alive() and rcpt_code(d, INTAKE) == 250
        # a good config is applied live: a new intake address, without a restart
        d.write_config(deep_merge(good, {"intake": {"addresses": [INTAKE, "second@example.test"]}}))
        assert rcpt_code(d, "second@example.test") == 550
        d.signal(signal.SIGHUP)
        wait_for_log(d, "configuration reloaded")
        assert rcpt_code(d, "second@example.test") == 250
        status, text = d.http_get("/metrics")
        assert 'ndrtrack_config_reloads_total{result="error"} 1.0' in text
        assert 'ndrtrack_config_reloads_total{result="ok"} 1.0' in text
    finally:
        assert d.stop() == 0, d.log()
