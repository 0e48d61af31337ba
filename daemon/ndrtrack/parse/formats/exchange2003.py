"""Microsoft Exchange 2000/2003: "Undeliverable: <subject>" in plain text.

"Your message … did not reach the following recipient(s):" then ``addr on <date>`` lines,
each followed by indented text ("The recipient name is not recognized", an MTS-ID and an
``MSEXCH:IMS:…`` line with a hex code such as ``(000C05A6)``).  There is no reply code; the
returned message is an attachment.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Exchange2003(TextFormat):
    name = "exchange2003"
    order = 30
    hints = re.compile(r"^Undeliverable:", re.I | re.M)
    signature = re.compile(r"did not reach the following recipient\(s\)|MSEXCH:", re.I)
    start = re.compile(r"did not reach the following recipient", re.I)
    recipient = re.compile(r"^\s*(?P<addr>[^\s<>@]+@[^\s<>]+) on \S")
    prefer_dsn = False


FORMAT = Exchange2003()
