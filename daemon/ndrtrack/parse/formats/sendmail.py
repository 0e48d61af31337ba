"""Sendmail: RFC 3464 reports since 8.8; V5-era and stripped ones are plain text.

The DSN's human part is "The original message was received at … from …" and
"----- The following addresses had permanent fatal errors -----" with a session transcript
("... while talking to mx.example.org.:", ">>> DATA", "<<< 550 5.1.1 … User unknown"), which
tells the SMTP command the error answered.  The old text form has "----- Transcript of
session follows -----" with ``addr... Deferred: …`` / ``550 addr... User unknown`` lines and
"----- Unsent message follows -----" (or "Original message follows") before the copy.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus
from ndrtrack.parse.extract import evolve, first_status, squeeze
from ndrtrack.parse.formats._base import TextFormat, cached_body, signature_in
from ndrtrack.parse.headers import original_from_text

_TRANSCRIPT = re.compile(r"(?<!-)-{3,}+ ?Transcript of session follows -{3,}", re.I)
_REPLY_LINE = re.compile(r"^(?:<<< ?)?([245]\d\d)(?:[ -]|$)")
_SMTP_WORDS = re.compile(r"[A-Za-z]{3,}")
# ">>> RCPT To:<a@example.org>": the transcript shows the recipient refused at RCPT TO.
_RCPT_SENT = re.compile(r"^>>> ?RCPT TO:\s*<([^<>\s]+)>", re.I | re.M)


class Sendmail(TextFormat):
    name = "sendmail"
    order = 60
    hints = re.compile(r"Returned mail:|Mail Delivery Subsystem|Postmaster notify", re.I)
    signature = re.compile(
        r"(?<!-)-{3,}+ ?(?:Transcript of session follows|The following addresses had)|"
        r"The original message was received at",
        re.I,
    )
    start = re.compile(
        r"(?<!-)-{3,}+ ?(?:Transcript of session follows|The following addresses had)", re.I
    )
    recipient = re.compile(
        r"^(?:>>> )?(?:[45]\d\d[ -](?:[45]\.\d+\.\d+ )?)?"
        r"<?(?P<addr>[^\s<>]+@[^\s<>.]+(?:\.[^\s<>.]+)*?)>?"
        r"(?:\.\.\.|\s*$|\s+[(\[<])"
    )
    end = re.compile(
        r"^\s*-{3,} ?(?:Unsent message follows|Original message follows|"
        r"Message header follows|Returned message)",
        re.I,
    )

    def detect(self, msg):  # noqa: ANN001, ANN201
        return signature_in(self.signature, msg, 8000)

    def scan(self, text: str) -> tuple[list[tuple[str, str]], str]:
        """Old Sendmail sometimes names only the host in the transcript ("421 example.com
        (smtp)... Deferred"): the recipients are then the returned message's To/Cc."""
        found, rest = super().scan(text)
        if found or not rest:
            return found, rest
        start = self.start.search(text) if self.start else None
        between = text[start.end() : len(text) - len(rest)] if start else ""
        section = between.rstrip().rpartition("\n")[0]  # without the "Unsent message" line
        recipients = original_from_text(rest).recipients
        return [(r, squeeze(section)) for r in recipients if section.strip()], rest

    def parse(self, msg: Message) -> Bounce | None:
        """The DSN, completed from the transcript where its Diagnostic-Code says too little."""
        bounce = super().parse(msg)
        if bounce is None:
            return None
        transcript = _TRANSCRIPT.split(cached_body(msg), 1)[-1]
        statuses = tuple(_from_transcript(s, transcript) for s in bounce.statuses)
        asked = {a.lower() for a in _RCPT_SENT.findall(transcript)}
        statuses = tuple(
            evolve(s, smtp_command="RCPT") if not s.smtp_command and s.recipient in asked else s
            for s in statuses
        )
        if len(statuses) == 1:
            statuses = (_from_lone_reply(statuses[0], transcript),)
        return evolve(bounce, statuses=statuses)


def _from_transcript(status: DeliveryStatus, transcript: str) -> DeliveryStatus:
    """Reply code (and a better diagnostic) from the transcript lines about this recipient.

    ``550 5.1.2 <rcpt>... Host unknown`` names the recipient on the reply line; ``<<< 421``
    followed by ``<rcpt>... Deferred: 421`` gives the code on the line before.
    """
    if status.reply_code:
        return status
    lines = transcript.splitlines()
    for index, line in enumerate(lines):
        if status.recipient not in line.lower():
            continue
        for candidate in (line, lines[index - 1] if index else ""):
            code = _REPLY_LINE.match(candidate.strip())
            if code:
                # an X-Unix exit status ("X-Unix; 77") says less than the reply line
                own_words = _SMTP_WORDS.search(status.diagnostic.removeprefix("X-Unix;"))
                diagnostic = status.diagnostic if own_words else squeeze(line)
                return evolve(
                    status,
                    reply_code=code.group(1),
                    diagnostic=diagnostic,
                    status=status.status or first_status(candidate),
                )
    return status


_LONE_REPLY = re.compile(r"^([45]\d\d)[ -](?:([45]\.\d{1,3}\.\d{1,3})\s)?(.*)$", re.M)


def _from_lone_reply(status: DeliveryStatus, transcript: str) -> DeliveryStatus:
    """A one-recipient report whose transcript is a local failure: Sendmail writes the
    reply it gave ("554 5.3.0 unknown mailer error 255", "451 4.0.0 Operating system
    error") on its own line, naming nobody.  That line's code is the reply, and its
    status replaces a vague x.0.0 one; an X-Unix exit status keeps its type beside it."""
    if status.reply_code:
        return status
    section = transcript.split("\n\n", 1)[0]  # the transcript ends at its first blank line
    reply = _LONE_REPLY.search(section)
    if reply is None:
        return status
    code, enhanced, text = reply.groups()
    vague = not status.status or status.status.endswith(".0.0")
    line = squeeze(reply.group(0))
    if status.diagnostic.startswith("X-Unix;"):
        diagnostic = f"{status.diagnostic}: {line}"
    else:
        diagnostic = status.diagnostic if _SMTP_WORDS.search(status.diagnostic) else line
    return evolve(
        status,
        reply_code=code,
        status=enhanced if enhanced and vague else status.status,
        diagnostic=diagnostic or squeeze(text),
    )


FORMAT = Sendmail()
