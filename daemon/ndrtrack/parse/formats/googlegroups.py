"""Google Groups: a post to a group that does not exist or does not take the sender's posts.

Sent by mailer-daemon@googlemail.com in the sender's language, signed "Google Groups", with
no reply code in the text: the group address is in ``X-Failed-Recipients`` (else the
original's To).  The reason is fixed by the format: the group refused the post.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus
from ndrtrack.parse.extract import attached_original, squeeze
from ndrtrack.parse.formats._base import Format, cached_body
from ndrtrack.parse.headers import original_from_text

_SIGNED = re.compile(r"^[ \t]*Google Groups[ \t]*$|groups\.google\.com", re.M)
_COPY = re.compile(r"^-{3,} ?Original message -{3,}", re.M)
_FAILED = re.compile(r"(?<![^\s,<>])[^\s,<>@]{1,64}+@[^\s,<>]{1,255}")


class GoogleGroups(Format):
    name = "googlegroups"
    order = 10
    hints = re.compile(r"mailer-daemon@(?:googlemail|gmail)\.com", re.I)

    def detect(self, msg: Message) -> bool:
        return self.hinted(msg) and bool(_SIGNED.search(cached_body(msg)[:5000]))

    def parse(self, msg: Message) -> Bounce | None:
        text = cached_body(msg)
        copy = _COPY.search(text)
        original = attached_original(msg) or (
            original_from_text(text[copy.end() :]) if copy else None
        )
        recipients = [a.lower() for a in _FAILED.findall(msg.get("X-Failed-Recipients", ""))]
        if not recipients and original is not None:
            recipients = [r for r in original.recipients if "googlegroups" in r][:1]
        if not recipients:
            return None
        explanation = squeeze(text[: copy.start()] if copy else text[:2000])
        statuses = tuple(
            DeliveryStatus(recipient=r, diagnostic=explanation, reason="rejected", permanent=False)
            for r in recipients
        )
        return Bounce(
            format=self.name,
            reporting_mta="googlegroups.com",
            statuses=statuses,
            original=original or Bounce(format="").original,
        )


FORMAT = GoogleGroups()
