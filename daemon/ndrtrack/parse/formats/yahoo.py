"""Yahoo! Mail: a qmail-derived plain-text report sent from MAILER-DAEMON@yahoo.*.

"Sorry, we were unable to deliver your message to the following address." then
``<address>:`` and the remote reply ("Remote host said: 550 …" or Yahoo's own words such
as "No mx record found for domain=…"), then "--- Below this line is a copy of the message.".
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats.qmail import Qmail


class Yahoo(Qmail):
    name = "yahoo"
    order = 20
    hints = re.compile(r"MAILER-DAEMON@\S*yahoo|Failure Notice", re.I)
    signature = re.compile(
        r"Sorry, we were unable to deliver your message to the following address", re.I
    )

    def detect(self, msg):  # noqa: ANN001, ANN201
        return super().detect(msg)


FORMAT = Yahoo()
