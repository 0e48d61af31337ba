"""SendGrid: "This is an automatically generated message from SendGrid."

Postfix-like wording; one line per recipient: ``local:id:<rcpt> : ip : mx:[ip] : 550 5.1.1 …
in RCPT TO``.  The DSN part is preferred when present.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class SendGrid(TextFormat):
    name = "sendgrid"
    order = 20
    signature = re.compile(r"automatically generated message from SendGrid", re.I)
    recipient = re.compile(r"<(?P<addr>[^\s<>]+@[^\s<>]+)> : ")
    end = re.compile(r"^Content-Description:|^-{5,}", re.I)


FORMAT = SendGrid()
