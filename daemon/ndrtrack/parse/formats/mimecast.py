"""Mimecast: "[Postmaster] Email Delivery Failure".

"…an email you addressed to email address : -- rcpt could not be delivered. The problem
appears to be : -- <plain reason> Additional information follows : -- 5.7.54 SMTP; <remote
reply>".  A DSN part usually accompanies it and is preferred.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Mimecast(TextFormat):
    name = "mimecast"
    order = 20
    hints = re.compile(r"\[Postmaster\] Email Delivery Failure|mimecast", re.I)
    signature = re.compile(r"you addressed to email address", re.I)
    recipient = re.compile(r"^-- (?P<addr>[^\s<>]+@[^\s<>]+)\s*$")
    end = re.compile(r"^If you sent the email to multiple recipients", re.I)

    def detect(self, msg):  # noqa: ANN001, ANN201
        return self.hinted(msg) or bool(msg.get("X-Mimecast-Originator"))


FORMAT = Mimecast()
