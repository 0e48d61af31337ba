"""The mailbox ledger and the envelope read from a delivered message's headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ndrtrack.intake.mailbox import envelope_for
from ndrtrack.intake.mailbox_ledger import Ledger, find_in_spool, ledger_for
from ndrtrack.intake.spool import Envelope, Spool


def test_envelope_from_return_path_and_delivered_to() -> None:
    data = (b"Return-Path: <bounce@mx.example.org>\r\n"
            b"Delivered-To: ndr-track@example.org\r\n"
            b"Delivered-To: postmaster@example.org\r\n"
            b"Delivered-To: ndr-track@example.org\r\n"
            b"X-Original-To: other@example.org\r\n"
            b"To: Someone <someone@example.org>\r\n\r\nbody\r\n")
    envelope = envelope_for(data, source="imap", mailbox="imaps://u@h:993/INBOX", key="7:1",
                            peer="h", tls=True, extra=(("imap_uid", "1"),))
    assert envelope.mail_from == "bounce@mx.example.org"
    assert envelope.rcpt_tos == ("ndr-track@example.org", "postmaster@example.org")
    assert (envelope.source, envelope.peer, envelope.tls) == ("imap", "h", True)
    assert dict(envelope.extra) == {"mailbox": "imaps://u@h:993/INBOX", "mailbox_key": "7:1",
                                    "imap_uid": "1"}


@pytest.mark.parametrize(("headers", "mail_from", "rcpts"), [
    (b"Return-Path: <>\r\nX-Original-To: a@example.org\r\n", "", ("a@example.org",)),
    (b"To: A <a@example.org>, b@example.org\r\n", "", ("a@example.org", "b@example.org")),
    (b"Subject: nothing known\r\n", "", ()),
])
def test_envelope_fallbacks(headers: bytes, mail_from: str, rcpts: tuple[str, ...]) -> None:
    envelope = envelope_for(headers + b"\r\nbody\r\n", source="maildir", mailbox="/m", key="k")
    assert (envelope.mail_from, envelope.rcpt_tos) == (mail_from, rcpts)


def test_ledger_survives_reload_and_ignores_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.ledger"
    ledger = Ledger(path, "/m")
    ledger.begin("a key with spaces%")
    ledger.mark_stored("a key with spaces%", "id-1")
    ledger.begin("k2")
    with open(path, "a") as f:
        f.write("B k3 17\nB k4 \nS k2")  # a garbled line; the crash came while writing the last
    reloaded = Ledger(path, "/m")
    assert reloaded.stored == {"a key with spaces%": "id-1"}
    assert set(reloaded.begun) == {"k2", "k3"}


def test_keep_only_forgets_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "x.ledger"
    ledger = Ledger(path, "/m")
    ledger.COMPACT_AFTER = 10
    for n in range(6):
        ledger.begin(f"k{n}")
        ledger.mark_stored(f"k{n}", f"id{n}")
    ledger.keep_only({"k5"})  # 15 dead lines: compacted
    assert ledger.stored == {"k5": "id5"}
    assert path.read_text().splitlines() == ["S k5 id5"]
    assert Ledger(path, "/m").stored == {"k5": "id5"}


def test_recover_finds_the_entry_or_forgets_the_key(spool: Spool) -> None:
    ledger = ledger_for(spool, "maildir", "/var/mail/x")
    ledger.begin("found")
    ledger.begin("lost")
    entry = spool.store(b"Subject: x\r\n\r\n", Envelope(
        mail_from="", rcpt_tos=(), source="maildir",
        extra=(("mailbox", "/var/mail/x"), ("mailbox_key", "found"))))
    spool.store(b"Subject: y\r\n\r\n", Envelope(  # same key, another mailbox: not ours
        mail_from="", rcpt_tos=(), source="maildir",
        extra=(("mailbox", "/var/mail/other"), ("mailbox_key", "lost"))))
    ledger.recover(spool)
    assert ledger.stored == {"found": entry.id} and ledger.begun == {}
    reloaded = ledger_for(spool, "maildir", "/var/mail/x")
    assert reloaded.stored == {"found": entry.id} and reloaded.begun == {}


def test_find_in_spool_looks_only_at_recent_entries(spool: Spool) -> None:
    entry = spool.store(b"Subject: x\r\n\r\n", Envelope(
        mail_from="", rcpt_tos=(), source="imap", extra=(("mailbox", "m"), ("mailbox_key", "1:1"))))
    began = Path(entry.path).parent.stat().st_mtime
    assert find_in_spool(spool, "m", "1:1", since=began) == entry.id
    assert find_in_spool(spool, "m", "1:1", since=began + 60) is None


def test_ledger_write_failure_is_a_spool_error(tmp_path: Path) -> None:
    from ndrtrack.errors import SpoolError

    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="mailbox ledger .* cannot read"):
        Ledger(tmp_path / "file" / "x.ledger", "/m")  # its parent is not a directory
    ledger = Ledger(tmp_path / "x.ledger", "/m")
    (tmp_path / "x.ledger").mkdir()  # now it cannot be appended to
    with pytest.raises(SpoolError, match="mailbox ledger .* cannot write"):
        ledger.begin("k")
