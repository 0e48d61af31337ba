"""Generic RFC 3464 / RFC 6522 delivery status notifications, whoever wrote them.

Tried after every MTA-specific module (which may know better where a vendor hides the real
code) and before the prose fallback.  The reading itself lives in ``parse/dsn.py``.
"""

from __future__ import annotations

from email.message import Message

from ndrtrack.model import Bounce
from ndrtrack.parse import dsn
from ndrtrack.parse.extract import text_parts
from ndrtrack.parse.formats._base import Format


class Rfc3464(Format):
    name = "rfc3464"
    order = 95

    def detect(self, msg: Message) -> bool:
        if dsn.find_status_part(msg) is not None:
            return True
        return bool(dsn.embedded_fields("\n".join(text_parts(msg, html=False))))

    def parse(self, msg: Message) -> Bounce | None:
        return dsn.parse_report(msg, format_name=self.name)


FORMAT = Rfc3464()
