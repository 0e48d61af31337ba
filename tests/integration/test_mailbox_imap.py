"""The IMAP poller against a real Dovecot on loopback: imaps and STARTTLS, flag/move/delete,
a wrong password, an unverifiable certificate, and a crash between storing and flagging."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mailbox_lab import (
    PLAIN_IMAP4,
    Captured,
    Dovecot,
    crash_poll,
    drive,
    message,
    running_dovecot,
    spool_envelopes,
)
from prometheus_client import REGISTRY

from conftest import free_port
from ndrtrack.config import ImapSource
from ndrtrack.intake.mailbox import IMAP_KEYWORD, ImapPoller
from ndrtrack.intake.spool import Spool

pytestmark = pytest.mark.integration


dovecot = pytest.fixture(running_dovecot, scope="module", name="dovecot")


@pytest.fixture(scope="module")
def plain_dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot(PLAIN_IMAP4)


def source_for(dovecot: Dovecot, user: str, password: str, **overrides: Any) -> ImapSource:
    fields: dict[str, Any] = dict(host="127.0.0.1", username=user, password=password,
                                  port=dovecot.imaps_port, security="tls",
                                  cafile=str(dovecot.cafile), poll_interval=0.05)
    if overrides.get("security") == "starttls":
        fields["port"] = dovecot.imap_port
    fields.update(overrides)
    return ImapSource(**fields)


def polls(result: str) -> float:
    return REGISTRY.get_sample_value("ndrtrack_mailbox_polls_total",
                                     {"source": "imap", "result": result}) or 0.0


def poller_for(source: ImapSource, spool: Spool) -> ImapPoller:
    return ImapPoller(source=source, spool=spool, backoff_initial=0.05, backoff_max=0.2,
                      timeout=10)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_move_stores_every_message_once(dovecot: Dovecot, spool: Spool, security: str) -> None:
    user, password = dovecot.new_user()
    sent = [message(n) for n in range(3)]
    dovecot.append(user, sent)
    source = source_for(dovecot, user, password, security=security, after="move",
                        move_to="Processed NDRs")
    poller = poller_for(source, spool)
    asyncio.run(drive(poller, polls=2))

    envelopes = spool_envelopes(spool.root)
    assert sorted(e["message"] for e in envelopes) == sorted(sent)
    first = next(e for e in envelopes if e["message"] == sent[0])
    assert first["source"] == "imap" and first["tls"] is True
    assert first["peer"] == "127.0.0.1"
    assert first["mail_from"] == "MAILER-DAEMON@mx0.example.org"
    assert first["rcpt_tos"] == ["ndr-track@example.org"]
    assert first["extra"]["imap_uid"] == "1"
    assert first["extra"]["mailbox_key"] == f"{first['extra']['imap_uidvalidity']}:1"
    assert dovecot.folder(user) == {}
    assert sorted(m for _, m in dovecot.folder(user, "Processed NDRs").values()) == sorted(sent)


def test_flag_keeps_messages_and_skips_flagged_ones(dovecot: Dovecot, spool: Spool) -> None:
    user, password = dovecot.new_user()
    dovecot.append(user, [message(1), message(2)])
    poller = poller_for(source_for(dovecot, user, password, security="starttls",
                                   after="flag"), spool)
    asyncio.run(drive(poller, polls=2))
    dovecot.append(user, [message(3)])
    asyncio.run(drive(poller, polls=2))

    assert [e["message"] for e in spool_envelopes(spool.root)] == \
        [message(1), message(2), message(3)]
    folder = dovecot.folder(user)
    assert len(folder) == 3
    assert all(IMAP_KEYWORD.encode() in flags for flags, _ in folder.values())
    assert not any(b"\\Seen" in flags for flags, _ in folder.values())  # still unread


def test_delete_expunges_after_storing(dovecot: Dovecot, spool: Spool) -> None:
    user, password = dovecot.new_user()
    dovecot.append(user, [message(n) for n in range(3)])
    poller = poller_for(source_for(dovecot, user, password, after="delete"), spool)
    asyncio.run(drive(poller))
    assert len(spool_envelopes(spool.root)) == 3
    assert dovecot.folder(user) == {}


def test_crash_between_store_and_flag_stores_nothing_twice(dovecot: Dovecot,
                                                           spool: Spool) -> None:
    user, password = dovecot.new_user()
    sent = [message(n) for n in range(4)]
    dovecot.append(user, sent)
    source = source_for(dovecot, user, password, after="flag")
    crash_poll("imap", dataclasses.asdict(source), spool.root, "act")
    assert len(spool_envelopes(spool.root)) == 1
    assert not any(IMAP_KEYWORD.encode() in f for f, _ in dovecot.folder(user).values())

    restarted = Spool(spool.root)
    restarted.setup()
    asyncio.run(drive(poller_for(source, restarted), polls=2))
    assert sorted(e["message"] for e in spool_envelopes(spool.root)) == sorted(sent)
    assert all(IMAP_KEYWORD.encode() in f for f, _ in dovecot.folder(user).values())


def test_wrong_password_is_logged_counted_and_retried(dovecot: Dovecot, spool: Spool) -> None:
    user, _ = dovecot.new_user()
    dovecot.append(user, [message(1)])
    source = source_for(dovecot, user, "not-the-password", folder="INBOX")
    poller = poller_for(source, spool)
    before = polls("auth_error")
    with Captured() as log:
        asyncio.run(drive(poller, polls=3))
    assert polls("auth_error") - before == poller.polls >= 3
    failure = next(line for line in log.lines if "failed" in line)
    assert "auth_error" in failure and "AUTHENTICATIONFAILED" in failure
    assert f"127.0.0.1:{dovecot.imaps_port}/INBOX" in failure and user in failure
    assert "not-the-password" not in "\n".join(log.lines)
    assert f"attempt {poller.polls}" in log.lines[-1]
    assert spool_envelopes(spool.root) == []
    assert len(dovecot.folder(user)) == 1  # untouched


def test_unverifiable_certificate_is_a_tls_error(dovecot: Dovecot, spool: Spool) -> None:
    user, password = dovecot.new_user()
    poller = poller_for(source_for(dovecot, user, password, cafile=""), spool)  # system CAs
    before = polls("tls_error")
    with Captured() as log:
        asyncio.run(drive(poller))
    assert polls("tls_error") - before == poller.polls >= 1
    assert any("CERTIFICATE_VERIFY_FAILED" in line for line in log.lines)


def test_missing_folder_is_a_mailbox_error(dovecot: Dovecot, spool: Spool) -> None:
    user, password = dovecot.new_user()
    poller = poller_for(source_for(dovecot, user, password, folder="No Such Folder"), spool)
    with Captured() as log:
        asyncio.run(drive(poller))
    assert "No Such Folder" in poller.last_error and poller.last_error.startswith("mailbox_error")
    assert any("mailbox_error" in line for line in log.lines)


def test_connection_refused_is_a_connect_error(spool: Spool) -> None:
    source = ImapSource(host="127.0.0.1", username="u", password="p", port=free_port(),
                        poll_interval=0.05)
    poller = poller_for(source, spool)
    before = polls("connect_error")
    asyncio.run(drive(poller, polls=2))
    assert polls("connect_error") - before == poller.polls >= 2
    assert "cannot connect" in poller.last_error and "refused" in poller.last_error


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_stop_cuts_a_server_that_never_answers(spool: Spool, security: str) -> None:
    """A peer that accepts the connection and then says nothing (TLS handshake or greeting
    hangs) must not hold up the daemon's shutdown for the whole socket timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        source = ImapSource(host="127.0.0.1", username="u", password="p", security=security,
                            port=silent.getsockname()[1], poll_interval=0.05)
        poller = ImapPoller(source=source, spool=spool, timeout=60)
        poller.STOP_GRACE = 0.2

        async def scenario() -> float:
            await poller.start()
            await asyncio.sleep(0.5)  # connected, waiting for the server
            assert poller.polls == 0
            began = time.monotonic()
            await poller.stop()
            return time.monotonic() - began

        assert asyncio.run(asyncio.wait_for(scenario(), 30)) < 3
    assert poller.polls == 1 and poller.last_error.startswith(("connect_error", "tls_error"))


@pytest.mark.parametrize("after", ["move", "delete"])
def test_without_move_and_uidplus_copy_and_expunge(plain_dovecot: Dovecot, spool: Spool,
                                                   after: str) -> None:
    user, password = plain_dovecot.new_user()
    sent = [message(n) for n in range(3)]
    plain_dovecot.append(user, sent)
    poller = poller_for(source_for(plain_dovecot, user, password, after=after), spool)
    with plain_dovecot.connect(user) as imap:
        _, caps = imap.capability()
    assert b"MOVE" not in caps[0] and b"UIDPLUS" not in caps[0]
    asyncio.run(drive(poller, polls=2))
    assert sorted(e["message"] for e in spool_envelopes(spool.root)) == sorted(sent)
    assert plain_dovecot.folder(user) == {}  # expunged, not just flagged \Deleted
    moved = plain_dovecot.folder(user, "ndrtrack-processed")
    assert sorted(m for _, m in moved.values()) == (sorted(sent) if after == "move" else [])
