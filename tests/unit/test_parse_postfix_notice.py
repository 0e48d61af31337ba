"""Postfix smtpd's 'errors from HOST' notice: who failed, with which reply, at which command."""

from __future__ import annotations

from ndrtrack.parse.decode import decode_bytes

_HEAD = (
    "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
    "To: postmaster@mx.example.net (Postmaster)\n"
    "Subject: Postfix SMTP server: errors from client.example.org[192.0.2.1]\n"
    "Content-Type: text/plain\n\n"
    "Transcript of session follows.\n\n"
    " Out: 220 mx.example.net ESMTP\n"
    " In:  EHLO client.example.org\n"
    " Out: 250-mx.example.net\n"
    " Out: 250-PIPELINING\n"
    " Out: 250-STARTTLS\n"
    " Out: 250 8BITMIME\n"
)


def _failed(body: str) -> dict[str, tuple[str, str, str, str]]:
    bounce = decode_bytes(
        (_HEAD + body + "\nFor other details, see the local mail logfile\n").encode()
    )
    assert bounce.format == "postfix"
    return {
        s.recipient: (s.smtp_command, s.reply_code, s.status, s.reason) for s in bounce.statuses
    }


def test_a_refused_rcpt_fails_only_that_recipient_even_when_pipelined() -> None:
    failed = _failed(
        " In:  MAIL FROM:<s@example.org>\n"
        " In:  RCPT TO:<a@example.net>\n"
        " In:  RCPT TO:<b@example.net>\n"
        " Out: 250 2.1.0 Ok\n"
        " Out: 250 2.1.5 Ok\n"
        " Out: 550 5.1.1 <b@example.net>: Recipient address rejected: User unknown\n"
        " In:  DATA\n"
        " Out: 354 End data with <CR><LF>.<CR><LF>\n"
        " Out: 250 2.0.0 Ok: queued\n"
    )
    assert failed == {"b@example.net": ("RCPT", "550", "5.1.1", "userunknown")}


def test_a_failure_after_the_data_fails_every_accepted_recipient() -> None:
    failed = _failed(
        " In:  MAIL FROM:<s@example.org>\n"
        " Out: 250 2.1.0 Ok\n"
        " In:  RCPT TO:<a@example.net>\n"
        " Out: 250 2.1.5 Ok\n"
        " In:  DATA\n"
        " Out: 354 End data with <CR><LF>.<CR><LF>\n"
        " Out: 451 4.3.0 Error: queue file write error\n"
        " In:  QUIT\n"
        " Out: 221 2.0.0 Bye\n"
    )
    assert failed == {"a@example.net": ("DATA", "451", "4.3.0", "systemerror")}
