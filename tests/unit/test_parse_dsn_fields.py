"""dsn.py: the tolerant field reader and the per-recipient SMTP command from the human part."""

from __future__ import annotations

from email import message_from_string

from ndrtrack.parse.dsn import human_commands, read_fields, recipient_status


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
