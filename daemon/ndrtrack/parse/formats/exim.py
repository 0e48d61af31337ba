"""Exim: "Mail delivery failed: returning message to sender" in plain text (or a DSN).

"This message was created automatically by mail delivery software." then "A message that you
sent could not be delivered to one or more of its recipients. … The following address(es)
failed:" and per recipient an indented address line followed by more indented lines:
"SMTP error from remote mail server after RCPT TO:<a>:" / "host mx.example.org [192.0.2.1]:
550 5.1.1 …".  The copy starts at "------ This is a copy of the message, including all the
headers. ------" (or "--- The header of the original message is following. ---" in 1&1's
variant).  Delay warnings say "has not yet been delivered" / "Warning: message … delayed".
Failed recipients are also listed in the ``X-Failed-Recipients`` header.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from ndrtrack.model import Bounce, MessageKind
from ndrtrack.parse.formats._base import TextFormat, cached_body

_DELAY = re.compile(r"has not yet been delivered to one or more", re.I)


class Exim(TextFormat):
    name = "exim"
    order = 60
    hints = re.compile(
        r"Mail delivery failed|Warning: message .* delayed|Mail Delivery System", re.I
    )
    signature = re.compile(
        r"This message was created automatically by mail delivery software|"
        r"could not be delivered to (?:one or more|all) of its\s+recipients",
        re.I,
    )
    start = re.compile(
        r"following address(?:\(es\)|es)?(?: failed| has| have)|address(?:\(es\)|es)?\s*$|"
        r"^\s*failed:\s*$|could not be delivered to (?:one or more|all)|"
        r"not yet been delivered (?:is|are):\s*$",
        re.I,
    )
    recipient = re.compile(
        r"^\s{0,4}\"?<?(?P<addr>[^\s\"<>:]+@[^\s\"<>:]+?)>?\"?:?(?:\s*$|\s+(?=\S))"
    )
    end = re.compile(
        r"^-+ ?(?:This is a copy|The header of the original|Original message)|"
        r"^\s*-{3,} ?(?:This is a copy|The header)",
        re.I,
    )
    stop = re.compile(r"^\*{6,}|^Рекомендуем|^={10,}")

    def parse(self, msg: Message) -> Bounce | None:
        bounce = super().parse(msg)
        if (
            bounce is not None
            and bounce.kind is not MessageKind.DELAYED
            and _DELAY.search(cached_body(msg)[:2000])
        ):
            return replace(
                bounce,
                kind=MessageKind.DELAYED,
                statuses=tuple(replace(s, action="delayed") for s in bounce.statuses),
            )
        return bounce

    def accept(self, address: str, line: str) -> bool:
        return not line.startswith((" " * 5, "\t"))


FORMAT = Exim()
