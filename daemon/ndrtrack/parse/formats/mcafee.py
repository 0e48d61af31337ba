"""McAfee Email Gateway (formerly IronMail/MX Logic appliances): "Delivery Status".

"--- The following addresses had delivery problems ---" then one line per recipient:
``<rcpt>   (<rcpt>... User not exist)`` — the reason in parentheses, often with a reply
code but no status code.  The original is attached.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class McAfee(TextFormat):
    name = "mcafee"
    order = 40
    hints = re.compile(r"^Delivery Status$", re.I | re.M)
    signature = re.compile(r"-{3} The following addresses had delivery problems -{3}", re.I)
    start = signature
    recipient = re.compile(r"^<(?P<addr>[^\s<>]+@[^\s<>]+)>\s+(?=\()")
    end = re.compile(r"^-{3,} ?(?:Original|Content-)", re.I)

    def detect(self, msg):  # noqa: ANN001, ANN201
        return self.hinted(msg) and super().detect(msg)


FORMAT = McAfee()
