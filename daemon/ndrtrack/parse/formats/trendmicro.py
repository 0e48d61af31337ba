"""Trend Micro InterScan Messaging Security Suite (IMSS) notifications.

Framed by lines of asterisks, "Message from InterScan Messaging Security Suite", then either
"Unable to deliver message to <rcpt> (and other recipients in the same domain)." or a session
excerpt "Sent <<< RCPT TO:<rcpt>" / "Received >>> 550 5.1.1 <rcpt>... user unknown".
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class TrendMicro(TextFormat):
    name = "trendmicro"
    order = 40
    hints = re.compile(r"InterScan|Mail could not be delivered", re.I)
    signature = re.compile(r"InterScan Messaging Security|^Sent <<< RCPT TO:", re.I | re.M)
    recipient = re.compile(
        r"(?:Unable to deliver message to |^Sent <<< RCPT TO:)<(?P<addr>[^\s<>]+@[^\s<>]+)>"
    )
    end = re.compile(r"^\*+\s+End of message", re.I)

    def detect(self, msg):  # noqa: ANN001, ANN201
        return self.hinted(msg) and super().detect(msg)


FORMAT = TrendMicro()
