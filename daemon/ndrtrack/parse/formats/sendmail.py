"""Sendmail: RFC 3464 reports since 8.8; V5-era and stripped ones are plain text.

The DSN's human part is "The original message was received at … from …" and
"----- The following addresses had permanent fatal errors -----" with a session transcript
("... while talking to mx.example.org.:", ">>> DATA", "<<< 550 5.1.1 … User unknown"), which
tells the SMTP command the error answered.  The old text form has "----- Transcript of
session follows -----" with ``addr... Deferred: …`` / ``550 addr... User unknown`` lines and
"----- Unsent message follows -----" (or "Original message follows") before the copy.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat, cached_body


class Sendmail(TextFormat):
    name = "sendmail"
    order = 60
    hints = re.compile(r"Returned mail:|Mail Delivery Subsystem|Postmaster notify", re.I)
    signature = re.compile(
        r"-{3,} ?(?:Transcript of session follows|The following addresses had)|"
        r"The original message was received at", re.I
    )
    start = re.compile(r"-{3,} ?(?:Transcript of session follows|The following addresses had)", re.I)
    recipient = re.compile(
        r"^(?:>>> )?(?:[45]\d\d[ -](?:[45]\.\d+\.\d+ )?)?<?(?P<addr>[^\s<>]+@[^\s<>.]+(?:\.[^\s<>.]+)*?)>?"
        r"(?:\.\.\.|\s*$|\s+[(\[<])"
    )
    end = re.compile(r"^\s*-{3,} ?(?:Unsent message follows|Original message follows|"
                     r"Message header follows|Returned message)", re.I)

    def detect(self, msg):  # noqa: ANN001, ANN201
        return bool(self.signature.search(cached_body(msg)[:8000]))


FORMAT = Sendmail()
