"""qmail (qmail-send) and its relatives: a plain-text report, never a DSN.

"Hi. This is the qmail-send program at host." then "I'm afraid I wasn't able to deliver your
message to the following addresses." and per recipient an ``<address>:`` line followed by
prose lines: "Connected to 192.0.2.1 but sender was rejected.", "Remote host said: 550 …",
"Giving up on 192.0.2.1."; the copy starts at "--- Below this line is a copy of the message."
(or "--- Enclosed are the original headers").  qmail's own errors carry a ``(#5.1.1)`` code.
The prose says which SMTP step failed ("sender was rejected", "my name was rejected",
"does not like recipient", "failed after I sent the message"); that is kept as the command.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ndrtrack.model import DeliveryStatus
from ndrtrack.parse.formats._base import TextFormat

_STEP = (
    (re.compile(r"sender was rejected", re.I), "MAIL"),
    (re.compile(r"my name was rejected", re.I), "HELO"),
    (re.compile(r"does not like recipient", re.I), "RCPT"),
    (re.compile(r"failed after I sent the message|failed on DATA command", re.I), "DATA"),
)


class Qmail(TextFormat):
    name = "qmail"
    order = 60
    hints = re.compile(r"^failure notice$", re.I | re.M)
    signature = re.compile(
        r"This is the qmail-send program|qmail-send|I'm afraid I wasn't able to deliver", re.I
    )
    start = re.compile(r"wasn't able to deliver your message|unable to deliver your message", re.I)
    recipient = re.compile(r"^<(?P<addr>[^\s<>]+@[^\s<>]+)>:\s*$")
    end = re.compile(r"^--- (?:Below this line|Enclosed)", re.I)

    def status(self, address: str, diagnostic: str) -> DeliveryStatus:
        status = super().status(address, diagnostic)
        for pattern, command in _STEP:
            if pattern.search(diagnostic):
                return replace(status, smtp_command=command)
        return status


FORMAT = Qmail()
