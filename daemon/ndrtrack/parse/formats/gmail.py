"""Gmail's own bounces (mailer-daemon@googlemail.com), plain text before 2015, DSN after.

"Delivery to the following recipient failed permanently:" (or "has been delayed:") then the
recipient indented by five spaces, then "Technical details of permanent failure:" with
Google's explanation and, when the remote server answered, "The error that the other server
returned was: 550 5.1.1 …".  The copy follows "----- Original message -----".  Newer Gmail
bounces are DSNs whose human part holds the same text, read by the RFC 3464 path.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind
from ndrtrack.parse.formats._base import TextFormat, cached_body


class Gmail(TextFormat):
    name = "gmail"
    order = 20
    hints = re.compile(r"mailer-daemon@(?:googlemail|gmail)\.com", re.I)
    signature = re.compile(
        r"Delivery to the following recipients? (?:failed|has been delayed)|"
        r"Technical details of (?:permanent|temporary) failure",
        re.I,
    )
    start = re.compile(r"Delivery to the following recipients? (?:failed|has been delayed)", re.I)
    recipient = re.compile(r"^\s{2,}(?P<addr>[^\s<>@]+@[^\s<>]+)\s*$")
    end = re.compile(r"^\s*-{3,} ?(?:Original message|Message truncated)", re.I)

    def status(self, address: str, diagnostic: str) -> DeliveryStatus:
        """The remote server's own words, when Google quotes them, are the diagnostic."""
        _, said, remote = diagnostic.partition("The error that the other server returned was:")
        return super().status(address, remote.strip() if said else diagnostic)

    def parse(self, msg: Message) -> Bounce | None:
        bounce = super().parse(msg)
        if bounce is not None and re.search(r"has been delayed", cached_body(msg)[:3000], re.I):
            from dataclasses import replace

            return replace(
                bounce,
                kind=MessageKind.DELAYED,
                statuses=tuple(replace(s, action="delayed") for s in bounce.statuses),
            )
        return bounce


FORMAT = Gmail()
