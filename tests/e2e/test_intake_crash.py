"""Crash safety: ``kill -9`` in the middle of 1,000 messages over 4 connections, then restart.

Every message that received a 250 must become exactly one case (at-least-once processing
with stages idempotent by spool id), and nothing left in ``tmp/`` may ever be processed.
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from pathlib import Path

from intakelab import INTAKE, Daemon, message

TOTAL = 1000
CONNECTIONS = 4
KILL_AFTER = 400  # acknowledged messages
QUEUED = re.compile(r"queued as (\S+)")


def sender(d: Daemon, worker: int, acked: dict[str, str], lock: threading.Lock) -> None:
    try:
        with d.smtp() as client:
            client.ehlo("client.test")
            for n in range(TOTAL // CONNECTIONS):
                mid = f"<crash-{worker}-{n}@client.test>"
                client.mail("sender@client.test")
                client.rcpt(INTAKE)
                code, reply = client.data(message(message_id=mid, body="z" * 2000))
                if code == 250:
                    match = QUEUED.search(reply.decode())
                    assert match, reply
                    with lock:
                        acked[match.group(1)] = mid
    except (smtplib.SMTPException, OSError):
        return  # the daemon was killed under us


def test_kill_9_mid_load_loses_nothing_acknowledged_and_duplicates_nothing(
        tmp_path: Path) -> None:
    d = Daemon(tmp_path).start()
    acked: dict[str, str] = {}
    lock = threading.Lock()
    threads = [threading.Thread(target=sender, args=(d, w, acked, lock))
               for w in range(CONNECTIONS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.002)
    d.kill()
    for t in threads:
        t.join(30)
    killed_at = len(acked)
    assert KILL_AFTER <= killed_at < TOTAL, killed_at

    # a partial entry as a crash inside Spool.store leaves it (written, never renamed)
    partial = d.spool / "tmp" / "19700101T000000000000-000000-partial"
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "message.eml").write_bytes(message(message_id="<partial@client.test>"))
    left_in_tmp = set(d.entries("tmp"))

    d.start()
    try:
        d.wait_processed(timeout=60)
        cases = d.cases()
    finally:
        assert d.stop() == 0, d.log()

    by_spool_id = {c["spool_id"]: c for c in cases}
    assert len(by_spool_id) == len(cases)  # never two cases for one spool entry
    missing = set(acked) - set(by_spool_id)
    assert not missing, f"{len(missing)} acknowledged messages have no case"
    for spool_id, mid in acked.items():
        assert by_spool_id[spool_id]["headers"]["message_id"] == mid
    message_ids = [c["headers"]["message_id"] for c in cases]
    assert len(message_ids) == len(set(message_ids))  # each message stored once
    assert not left_in_tmp & set(by_spool_id)
    assert "<partial@client.test>" not in message_ids
    assert d.entries("tmp") == []
    # whatever was stored but not yet acknowledged is still a case, never lost in processing/
    assert len(d.entries("done")) == len(cases)
