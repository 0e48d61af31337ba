"""Courier mail server: "NOTICE: mail delivery status." with an RFC 3464 report.

The human part names the server ("running the Courier mail server, version …") and lists
``<rcpt>:`` followed by the remote dialogue, lines prefixed ``>>>`` (sent) and ``<<<``
(received): "<<< 550 5.1.1 <rcpt>... User unknown" or Courier's own "<<< No such domain.".
The DSN part is preferred; the dialogue is read when it is missing.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Courier(TextFormat):
    name = "courier"
    order = 40
    hints = re.compile(r"NOTICE: mail delivery status", re.I)
    signature = re.compile(r"running the Courier mail server|Courier mail server", re.I)
    start = re.compile(r"following recipients cannot be delivered|delivery to the following", re.I)
    recipient = re.compile(r"^<(?P<addr>[^\s<>]+@[^\s<>]+)>:\s*$")
    end = re.compile(r"^-{20,}\s*$")


FORMAT = Courier()
