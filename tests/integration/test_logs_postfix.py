"""A real Postfix writes the log; the index must tell what happened to what was sent.

Postfix (Debian package, run by ``tests/lab/postfix-lab.sh`` on loopback in a directory of its
own) relays ``sink.test`` to ``tests/lab/smtpsink.py``, which answers by recipient prefix.  We
send: a local delivery, an unknown local user (refused at RCPT), a relay attempt (refused), a
message the remote refuses with 550 5.1.1 (bounced, with the NDR it causes), a remote
delivery; then import Postfix's log and compare each trace with what was sent.
"""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import ROOT, free_port, require_binary, require_root
from ndrtrack.logs.importer import Importer
from ndrtrack.store.base import LogQuery, open_store

LAB = ROOT / "tests" / "lab"
SENDER = "alice@client.test"


@pytest.fixture
def lab() -> Iterator[tuple[Path, int]]:
    require_root()
    require_binary("postfix")
    # every parent must be traversable by the postfix user: not under pytest's 0700 tmp dirs
    directory = Path(tempfile.mkdtemp(prefix="ndrtrack-logs-postfix-", dir="/var/tmp"))
    directory.chmod(0o755)
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(LAB / "smtpsink.py"), "--listen",
                             f"127.0.0.1:{sink_port}=rules", "--maildir",
                             str(directory / "sink"), "--timeout", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield directory, sink_port
    finally:
        subprocess.run(["bash", str(LAB / "postfix-lab.sh"), "stop", "--dir", str(directory)],
                       capture_output=True, timeout=60, check=False)
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _send(port: int, rcpts: list[str], message_id: str) -> dict[str, tuple[int, bytes]]:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, ", ".join(rcpts), "log index test"
    msg["Message-ID"] = message_id
    msg.set_content("hello\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.test")
        try:
            return client.send_message(msg, SENDER, rcpts)
        except smtplib.SMTPRecipientsRefused as exc:
            return exc.recipients


def test_traces_of_a_real_postfix_run(tmp_path: Path, lab: tuple[Path, int]) -> None:
    directory, sink_port = lab
    port = free_port()
    log = directory / "log" / "postfix.log"
    subprocess.run(["bash", str(LAB / "postfix-lab.sh"), "start", "--dir", str(directory),
                    "--port", str(port), "--route", f"sink.test={sink_port}"],
                   check=True, capture_output=True, timeout=120)
    refused = _send(port, ["nobody@example.test", "nosuchuser@example.test"], "<m1@client.test>")
    assert set(refused) == {"nosuchuser@example.test"}
    assert _send(port, ["someone@elsewhere.test"], "<m2@client.test>")  # relay denied
    assert _send(port, ["unknown1@sink.test", "ok1@sink.test"], "<m3@client.test>") == {}

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count(": removed") >= 3 and "status=bounced" in text:
            break
        time.sleep(0.3)
    store = open_store("sqlite", str(tmp_path / "index.sqlite3"))
    store.setup()
    (result,) = Importer(store=store).import_path(str(log))
    assert result.lines > 20

    (local,) = store.search(LogQuery(message_id="m1@client.test"))
    assert local.sender == SENDER and local.client_ip == "127.0.0.1"
    assert {r.recipient: r.status for r in local.recipients} == {
        "nobody@example.test": "sent", "nosuchuser@example.test": "rejected"}
    assert local.outcome == "sent"

    (relay,) = store.search(LogQuery(recipient="someone@elsewhere.test"))
    assert relay.queue_ids == () and relay.outcome == "rejected" and relay.sender == SENDER
    assert relay.recipients[0].dsn == "5.7.1" and "Relay access denied" in relay.recipients[0].reply

    (remote,) = store.search(LogQuery(message_id="<m3@client.test>"))
    by_rcpt = {r.recipient: r for r in remote.recipients}
    assert by_rcpt["ok1@sink.test"].status == "sent"
    assert by_rcpt["unknown1@sink.test"].status == "bounced"
    assert by_rcpt["unknown1@sink.test"].dsn == "5.1.1"
    assert f"127.0.0.1[127.0.0.1]:{sink_port}" == by_rcpt["unknown1@sink.test"].relay
    assert remote.outcome == "bounced"
    ndr_ids = [q for q in remote.queue_ids[1:] if store.search(LogQuery(queue_id=q))]
    ndrs = [t for q in ndr_ids for t in store.search(LogQuery(queue_id=q))
            if t.queue_ids[0] == q and t.sender == ""]
    assert ndrs and ndrs[0].recipients[0].recipient == SENDER  # the NDR it caused is linked

    assert {t.queue_ids[0] for t in store.search(LogQuery(sender=SENDER)) if t.queue_ids} == {
        local.queue_ids[0], remote.queue_ids[0]}
    store.close()
