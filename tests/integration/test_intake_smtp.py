"""Real SMTP and LMTP sessions against the daemon running as a subprocess.

Replies are checked against the status codes the intake promises (RFC 5321 / RFC 3463):
250 2.0.0 only once the message is in the spool, 550 5.1.1 for anything that is not an intake
address (never a relay), 552 5.3.4 for oversize, 421 4.7.0 over the connection limits,
421 4.4.2 on idle timeout.
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import require_binary
from intakelab import INTAKE, Daemon, message

QUEUED = re.compile(rb"^2\.0\.0 Ok: queued as (\S+)$")
LIMIT = 64 * 1024


def make_cert(directory: Path) -> tuple[Path, Path]:
    openssl = require_binary("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=intake.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("intake")
    cert, key = make_cert(root)
    tls = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
    d = Daemon(root, {"intake": {"smtp": {
        "max_message_size": LIMIT, "max_connections_per_client": 3, "idle_timeout": 1.5, **tls},
        "lmtp": tls}})
    d.start()
    yield d
    assert d.stop() == 0, d.log()


def stored(d: Daemon) -> set[str]:
    """Every entry the spool holds, once the runner is idle (no entry between two states)."""
    d.wait_processed()
    return {i for state in ("new", "processing", "done", "shunt") for i in d.entries(state)}


def spool_id(reply: bytes) -> str:
    match = QUEUED.match(reply)
    assert match, reply
    return match.group(1).decode()


def send(d: Daemon, data: bytes, sender: str = "sender@client.test",
         rcpts: tuple[str, ...] = (INTAKE,)) -> tuple[int, bytes]:
    with d.smtp() as client:
        client.ehlo("client.test")
        assert client.mail(sender)[0] == 250
        for rcpt in rcpts:
            assert client.rcpt(rcpt)[0] == 250
        return client.data(data)


def case_for(d: Daemon, sid: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for case in d.cases():
            if case["spool_id"] == sid:
                return case
        time.sleep(0.1)
    raise AssertionError(f"no case for {sid}:\n{d.log()}")


def test_accepted_message_is_queued_durably_and_becomes_a_case(daemon: Daemon) -> None:
    data = message(subject="=?UTF-8?Q?Undeliverable:_R=C3=A9union?=",
                   message_id="<accepted@client.test>")
    code, reply = send(daemon, data)
    assert code == 250
    sid = spool_id(reply)
    # 250 was sent only after the entry was complete in new/ (or already taken further)
    assert daemon.entry_file(sid, "message.eml") == data
    envelope = json.loads(daemon.entry_file(sid, "envelope.json"))
    assert envelope["mail_from"] == "sender@client.test"
    assert envelope["rcpt_tos"] == [INTAKE]
    assert envelope["helo"] == "client.test" and envelope["peer"] == "127.0.0.1"
    case = case_for(daemon, sid)
    assert case["headers"]["subject"] == "Undeliverable: Réunion"
    assert case["headers"]["message_id"] == "<accepted@client.test>"
    assert case["headers"]["from_header"] == "Sender <sender@client.test>"
    assert case["mail_from"] == "sender@client.test" and case["source"] == "smtp"


@pytest.mark.parametrize("rcpt", ["NDR-Track@EXAMPLE.test", "ndr-track+fwd@example.test"])
def test_intake_address_case_insensitive_with_tag(daemon: Daemon, rcpt: str) -> None:
    code, reply = send(daemon, message(), rcpts=(rcpt,))
    assert code == 250, reply


@pytest.mark.parametrize("rcpt", [
    "someone@example.test",           # unknown local recipient
    "ndr-track@example.test.evil",    # look-alike domain
    "victim@elsewhere.example",       # relay attempt
    "ndr-trackx@example.test",
])
def test_other_recipients_are_refused_never_relayed(daemon: Daemon, rcpt: str) -> None:
    before = stored(daemon)
    with daemon.smtp() as client:
        client.ehlo("client.test")
        client.mail("sender@client.test")
        code, reply = client.rcpt(rcpt)
        assert (code, reply.split()[0]) == (550, b"5.1.1")
        assert client.docmd("DATA")[0] == 503  # no valid recipient, no transaction
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        with daemon.smtp() as client:
            client.sendmail("sender@client.test", [rcpt], message())
    assert stored(daemon) == before


def test_null_sender_is_accepted(daemon: Daemon) -> None:
    code, reply = send(daemon, message(message_id="<null@client.test>"), sender="<>")
    assert code == 250
    case = case_for(daemon, spool_id(reply))
    assert case["mail_from"] == ""


def test_size_is_advertised_and_enforced(daemon: Daemon) -> None:
    before = stored(daemon)
    with daemon.smtp() as client:
        client.ehlo("client.test")
        assert client.esmtp_features["size"] == str(LIMIT)
        code, reply = client.mail("sender@client.test", [f"SIZE={LIMIT + 1}"])
        assert (code, reply.split()[0]) == (552, b"5.3.4")
        # a client that does not declare SIZE is stopped at the end of DATA
        client.rset()
        client.mail("sender@client.test")
        client.rcpt(INTAKE)
        big = message(body="y" * 100 + "\r\n" + ("z" * 998 + "\r\n") * (LIMIT // 1000 + 1))
        code, reply = client.data(big)
        assert (code, reply.split()[0]) == (552, b"5.3.4")
        # the session is still usable
        client.mail("sender@client.test")
        client.rcpt(INTAKE)
        assert client.data(message())[0] == 250
    assert len(stored(daemon)) == len(before) + 1


def test_long_lines_are_not_refused(daemon: Daemon) -> None:
    code, _ = send(daemon, message(body="x" * 5000))
    assert code == 250


def test_connections_per_client_are_limited(daemon: Daemon) -> None:
    clients = [daemon.smtp() for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=5) as sock:
            banner = sock.makefile("rb").readline()
        assert banner.startswith(b"421 4.7.0"), banner
    finally:
        for client in clients:
            client.quit()
    time.sleep(0.2)
    with daemon.smtp() as client:  # slots are given back
        assert client.noop()[0] == 250


def test_idle_session_is_closed(daemon: Daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.smtp_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        started = time.monotonic()
        assert reader.readline().startswith(b"421 4.4.2")
        assert reader.readline() == b""  # closed
        assert 1.0 < time.monotonic() - started < 8


def send_over_starttls(d: Daemon, client: smtplib.SMTP, helo: str, sender: str,
                       message_id: str) -> dict:
    """One message after STARTTLS (offered before, not after); its stored envelope."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with client:
        client.ehlo(helo)  # smtplib sends LHLO for LMTP
        assert client.has_extn("starttls")
        assert client.starttls(context=context)[0] == 220
        client.ehlo(helo)
        assert not client.has_extn("starttls")
        client.mail(sender)
        client.rcpt(INTAKE)
        code, reply = client.data(message(message_id=message_id))
    assert code == 250
    return json.loads(d.entry_file(spool_id(reply), "envelope.json"))


def test_starttls(daemon: Daemon) -> None:
    record = send_over_starttls(daemon, daemon.smtp(), "client.test", "sender@client.test",
                                "<tls@client.test>")
    assert record["tls"] is True


def test_starttls_on_lmtp(daemon: Daemon) -> None:
    """LMTP offers STARTTLS like SMTP when the listener has a certificate (same keys)."""
    client = smtplib.LMTP("127.0.0.1", daemon.lmtp_port, timeout=10)
    record = send_over_starttls(daemon, client, "mta.test", "", "<lmtp-tls@client.test>")
    assert record["tls"] is True and record["source"] == "lmtp"


def lmtp_exchange(port: int, lines: list[bytes], replies_after: list[int]) -> list[list[bytes]]:
    """Send LMTP commands; read the given number of reply lines after each."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        answers = []
        for line, count in zip(lines, replies_after, strict=True):
            sock.sendall(line)
            got: list[bytes] = []
            while len(got) < count:
                reply = reader.readline()
                got.append(reply.rstrip(b"\r\n"))
                if reply[3:4] == b"-":  # continuation of a multi-line reply
                    count += 1
            answers.append(got)
        return answers


def test_lmtp_answers_per_recipient(daemon: Daemon) -> None:
    answers = lmtp_exchange(daemon.lmtp_port, [
        b"LHLO mta.test\r\n", b"MAIL FROM:<>\r\n", f"RCPT TO:<{INTAKE}>\r\n".encode(),
        b"RCPT TO:<stranger@example.test>\r\n", b"RCPT TO:<NDR-Track+x@example.test>\r\n",
        b"DATA\r\n", message(message_id="<lmtp@client.test>") + b".\r\n", b"QUIT\r\n",
    ], [1, 1, 1, 1, 1, 1, 2, 1])
    assert answers[2][0].startswith(b"250") and answers[4][0].startswith(b"250")
    assert answers[3][0].startswith(b"550 5.1.1")
    per_recipient = answers[6]
    assert len(per_recipient) == 2
    ids = {spool_id(line[4:]) for line in per_recipient}
    assert len(ids) == 1  # one message, one spool entry, one reply per recipient
    case = case_for(daemon, ids.pop())
    assert case["source"] == "lmtp" and len(case["rcpt_tos"]) == 2


def test_lmtp_refuses_helo(daemon: Daemon) -> None:
    answers = lmtp_exchange(daemon.lmtp_port, [b"HELO mta.test\r\n"], [1])
    assert answers[0][0].startswith(b"500")


def test_metrics_count_sessions_messages_and_bytes(daemon: Daemon) -> None:
    send(daemon, message())
    status, text = daemon.http_get("/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("ndrtrack_smtp_sessions_total", (("protocol", "smtp"),))] >= 1
    accepted = (("result", "accepted"), ("source", "smtp"))
    assert samples[("ndrtrack_intake_messages_total", accepted)] >= 1
    assert samples[("ndrtrack_intake_bytes_total", (("source", "smtp"),))] > 0
    assert ("ndrtrack_spool_entries", (("state", "done"),)) in samples
    assert any(name == "ndrtrack_runner_processed_total" for name, _ in samples)
    for name, labels in samples:  # no address or domain is ever a label
        assert not any("@" in value or "example" in value for _, value in labels), name
