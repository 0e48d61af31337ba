"""KDDI / au (ezweb.ne.jp, dion.ne.jp) carrier bounces, Japanese and English.

Two shapes: "Your mail sent on: <date> Could not be delivered to: <rcpt> As their mailbox is
full." from no-reply@…dion.ne.jp, and ezweb's "Mail System Error - Returned Mail" with
ISO-2022-JP text, an English sentence ("The user(s) account is disabled.", "Your message was
not delivered within 0 days and 1 hours.") and the recipients as ``<rcpt>`` lines.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Kddi(TextFormat):
    name = "kddi"
    order = 30
    hint_only = True
    hints = re.compile(
        r"@\S*(?:ezweb\.ne\.jp|dion\.ne\.jp|au\.com|kddi\.com)|Mail System Error - Returned Mail",
        re.I,
    )
    recipient = re.compile(
        r"^\s*(?:Could not be delivered to:\s*)?<(?P<addr>[^\s<>]+@[^\s<>]+)>", re.M
    )
    end = re.compile(r"^-{3,}\s*$|^Received:", re.I)
    prefer_dsn = False


    def scan(self, text: str) -> tuple[list[tuple[str, str]], str]:
        """ezweb puts the explanation before the addresses: it applies to all of them."""
        found, rest = super().scan(text)
        first = self.recipient.search(text)
        head = re.sub(r"[^\x20-\x7e\n]+", " ", text[: first.start()]) if first else ""
        return [(address, (head + " " + diag).strip()) for address, diag in found], rest


FORMAT = Kddi()
