"""dsn.py: the tolerant field reader and the per-recipient SMTP command from the human part."""

from __future__ import annotations

from email import message_from_string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndrtrack.parse.dsn import (
    find_status_parts,
    human_commands,
    read_fields,
    read_status_parts,
    recipient_status,
    status_text,
)
from ndrtrack.parse.mime import parse_message


def test_a_recipient_block_whose_final_recipient_comes_last_stays_one_block() -> None:
    text = (
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Diagnostic-Code: smtp; 550-Please authenticate.\n"
        "550-mx.example.net [192.0.2.1]:25 is not permitted to\r\n"
        "550 relay through this server without authentication.\r\n"
        "Status: 5.0.0\r\nAction: failed\r\n"
        "Final-Recipient: rfc822; a@example.org\n"
    )
    blocks = read_fields(text)
    assert blocks[1]["final-recipient"] == "rfc822; a@example.org"
    assert blocks[1]["status"] == "5.0.0"


def test_recipients_without_blank_lines_still_split() -> None:
    text = (
        "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
        "Final-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.2.2\n"
    )
    assert [b["status"] for b in read_fields(text)] == ["5.1.1", "5.2.2"]


def test_each_recipient_gets_the_command_of_its_own_paragraph() -> None:
    msg = message_from_string(
        "Content-Type: text/plain\n\n"
        "<a@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 unknown\n"
        "    (in reply to RCPT TO command)\n\n"
        "<b@example.org>: host mx.example.org[192.0.2.1] said: 554 5.7.1 refused\n"
        "    (in reply to end of DATA command)\n"
    )
    found = human_commands(msg, ["a@example.org", "b@example.org", "c@example.org"])
    assert found == {"a@example.org": "RCPT", "b@example.org": "DATA"}


def test_a_failed_delivery_takes_the_remotes_permanent_code_over_a_transient_label() -> None:
    block = {
        "final-recipient": "rfc822; a@example.org",
        "action": "failed",
        "status": "4.5.0",
        "diagnostic-code": "smtp; 550 5.5.0 Service refused",
    }
    status = recipient_status(block, "mx.example.net")
    assert status is not None and status.status == "5.5.0"
    delayed = recipient_status({**block, "action": "delayed"}, "mx.example.net")
    assert delayed is not None and delayed.status == "4.5.0"


def _report(status_part: bytes) -> bytes:
    return (
        b"From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; "
        b"report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nfailed\n"
        b"--b\nContent-Type: message/delivery-status\n\n" + status_part + b"\n--b--\n"
    )


@pytest.mark.parametrize(
    "status_part",
    [
        b"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@example.org\n"
        b"Action: failed\nStatus: 5.1.1\n",
        # folded, an odd name, stray text, a lone Original-Recipient, repeated fields
        b"Reporting-MTA: dns;\n mx.example.org\n\nOriginal-Recipient: rfc822; a@example.org\n\n"
        b"Final-Recipient: rfc822; a@example.org\nX_Odd: 1\n folded on\nStatus: 5.1.1\n",
        b"Final-Recipient: rfc822; a@example.org\nnot a field\nStatus: 4.2.2\n",
        b"Final-Recipient: rfc822; a@example.org\nStatus: 5.1.1\n"
        b"Final-Recipient: rfc822; b@example.org\nStatus: 5.2.2\n\n\n\nAction: failed\n",
        b"Final-Recipient: rfc822; a@example.org\nDiagnostic-Code: smtp; 550 \xe9t\xe9\n",
        b"Final-Recipient: rfc822; a@example.org\nDiagnostic-Code: smtp; 550 a\x0cb\n",
        b"Final-Recipient: rfc822; a@example.org\nDiagnostic-Code: smtp; 550 a\x0b\n"
        b"Status: 5.0.0\n",
        b"Final-Recipient: rfc822; a@example.org\nDiagnostic-Code: smtp; 550\n \n b\n"
        b"Status: 5.0.0\n",
        b"Final-Recipient: rfc822;\n a@example.org\n\tmore\nAction: failed\n",
    ],
)
def test_split_status_parts_read_as_their_text_does(status_part: bytes) -> None:
    """read_status_parts reads the parser's header blocks directly: the same blocks as the
    tolerant text reader gets from the part's text, with LF and CRLF line ends."""
    for raw in (status_part, status_part.replace(b"\n", b"\r\n")):
        parts = find_status_parts(parse_message(_report(raw)))
        assert read_status_parts(parts) == read_fields(
            "\n\n".join(status_text(part) for part in parts)
        )


def test_every_sample_reads_the_same_both_ways() -> None:
    folder = Path(__file__).resolve().parents[1] / "samples" / "bounces"
    for path in sorted(folder.glob("*.eml")):
        parts = find_status_parts(parse_message(path.read_bytes()))
        expected = read_fields("\n\n".join(status_text(part) for part in parts))
        assert read_status_parts(parts) == expected, path.name


_TOKENS = [b"Final-Recipient: rfc822; a@example.org", b"Status: 5.1.1", b"Action: failed",
           b"Original-Recipient: rfc822; b@example.org", b"X_Odd: 1", b"Diagnostic-Code: smtp; 550",
           b"\n", b"\r\n", b"\n ", b"\n\t", b" x", b"\x0b", b"\xe9", b"text", b":", b" "]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map(b"".join))
def test_random_status_parts_read_as_their_text_does(status_part: bytes) -> None:
    parts = find_status_parts(parse_message(_report(status_part)))
    assert read_status_parts(parts) == read_fields(
        "\n\n".join(status_text(part) for part in parts)
    )
