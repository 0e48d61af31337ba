"""Last resort for prose bounces no format module knows: read the error section heuristically.

Many small MTAs and appliances write a few sentences, the failed address(es) and the remote
reply, then the returned message.  This reader:

1. takes the body up to the first "copy of the original message" marker,
2. takes the failed recipients from ``X-Failed-Recipients`` or, failing that, every address in
   that section except the bounce's own From/To, the original's sender, role addresses
   (postmaster, mailer-daemon) and addresses on sender lines (From:, MAIL FROM:, Return-Path:),
3. uses the whole section as the diagnostic (status and reply code from it) — or, when
   every failed address heads its own paragraph (``<a@example.org>:`` on a line, the qmail
   and Postfix layout most small MTAs copy), each paragraph as that address's diagnostic.

It only runs when the message says it is a delivery failure (From a mailer daemon or
postmaster, or a Subject about undeliverable/returned/failed mail), never on ordinary mail.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, OriginalMessage
from ndrtrack.parse.extract import (
    attached_original,
    clean_address,
    first_reply,
    first_status,
    remote_host,
    smtp_command,
    squeeze,
)
from ndrtrack.parse.formats._base import Format, addresses_in, cached_body, head
from ndrtrack.parse.headers import original_from_text

_BOUNCE_FROM = re.compile(
    r"mailer-daemon|postmaster|post_master|mail delivery|MAILER_DAEMON|"
    r"Mail\.Delivery|InterScan|\bMSS\b",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|deliver(?:y|ed)? fail|failure|returned mail|"
    r"delivery status|not (?:be )?delivered|mail system error|"
    r"could not be delivered|error sending|rejected|warning",
    re.I,
)
_COPY = re.compile(
    r"^[ \t]*+[-=*]*+[ \t]*+(?:(?:the )?original message(?: follows|"
    r":)?|Below (?:this line )?is a copy|"
    r"(?:Unsent|Returned|Original) message (?:follows|"
    r"header)|\|?-* ?Message text follows|Included is a copy|"
    r"(?:this is )?a copy of (?:the|your) (?:original )?message|The attachment contains|"
    r"[-=]{2,}\s*original message|Message details:|End of message)",
    re.I | re.M,
)
_SENDER_LINE = re.compile(
    r"message-?id|^\s*(?:From|MAIL FROM|Sender|Return-Path|Reply-To|Envelope-From)\b\s*:?", re.I
)
_ROLE = re.compile(r"^(?:postmaster|mailer-daemon|post_master|abuse|noreply|no-reply)@", re.I)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,20}://\S*")


_HEADING = r"^[ \t]*<?{}>?:?[ \t\r]*$"


def _paragraphs(section: str, recipients: list[str]) -> dict[str, str]:
    """address → its own paragraph, when every address (two or more) heads a paragraph."""
    if len(recipients) < 2:
        return {}
    starts: list[tuple[int, str]] = []
    for address in recipients:
        heading = re.search(_HEADING.format(re.escape(address)), section, re.I | re.M)
        if heading is None:
            return {}
        starts.append((heading.start(), address))
    starts.sort()
    ends = [start for start, _ in starts[1:]] + [len(section)]
    return {address: section[start:end] for (start, address), end in zip(starts, ends, strict=True)}


def _status(address: str, text: str, reporting: str) -> DeliveryStatus:
    return DeliveryStatus(
        recipient=address,
        status=first_status(text),
        reply_code=first_reply(text),
        diagnostic=squeeze(_URL.sub(" ", text))[:2000],
        remote_mta=remote_host(text),
        reporting_mta=reporting,
        smtp_command=smtp_command(text),
    )


class Generic(Format):
    name = "text"
    order = 99

    def detect(self, msg: Message) -> bool:
        if msg.get("X-Failed-Recipients"):
            return True
        sender, _, subject = head(msg).partition("\n")
        return bool(_BOUNCE_FROM.search(sender) or _BOUNCE_SUBJECT.search(subject))

    def parse(self, msg: Message) -> Bounce | None:
        text = cached_body(msg)
        copy = _COPY.search(text)
        section = text[: copy.start()] if copy else text[:6000]
        original = attached_original(msg) or (
            original_from_text(text[copy.end() :].split("\n", 1)[-1]) if copy else OriginalMessage()
        )
        recipients = self.recipients(msg, section, original)
        if not recipients:
            return None
        paragraphs = _paragraphs(section, recipients)
        reporting = clean_address(str(msg.get("From", ""))).partition("@")[2]
        statuses = tuple(
            _status(address, paragraphs.get(address, section), reporting) for address in recipients
        )
        return Bounce(
            format=self.name, reporting_mta=reporting, original=original, statuses=statuses
        )

    @staticmethod
    def recipients(msg: Message, section: str, original: OriginalMessage) -> list[str]:
        failed = addresses_in(str(msg.get("X-Failed-Recipients", "")))
        if failed:
            return failed
        excluded = {clean_address(str(msg.get(h, ""))) for h in ("From", "To", "Reply-To")}
        excluded.add(original.sender)
        lines = [line for line in section.splitlines() if not _SENDER_LINE.match(line)]
        found = addresses_in(_URL.sub(" ", "\n".join(lines)))
        return [a for a in found if a not in excluded and not _ROLE.match(a)][:50]


FORMAT = Generic()
