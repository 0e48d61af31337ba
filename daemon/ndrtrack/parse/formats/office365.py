"""Microsoft Exchange Online / Office 365 and Exchange 2007+: "Undeliverable: <subject>".

A ``multipart/report`` whose human part reads "Delivery has failed to these recipients or
groups:" followed by ``addr<mailto:addr>`` lines and a friendly explanation; under
"Diagnostic information for administrators:" come "Generating server: …", each recipient
again, and "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; …'", then
"Original message headers:".  The delivery-status part is often present and preferred; when
the MIME structure is broken the administrators' section is read instead.
"""

from __future__ import annotations

import re
from typing import ClassVar

from ndrtrack.parse.formats._base import TextFormat


class Office365(TextFormat):
    name = "office365"
    order = 20
    hints = re.compile(
        r"^Undeliverable:|postmaster@\S*(?:outlook|office365|microsoft)", re.I | re.M
    )
    signature = re.compile(
        r"Diagnostic information for administrators|Delivery has failed to these "
        r"recipients|Your message did not reach some or all of the intended",
        re.I,
    )
    start: ClassVar[re.Pattern[str] | None] = re.compile(
        r"Diagnostic information for administrators", re.I
    )
    recipient = re.compile(r"^\s*(?P<addr>[^\s<>()@]+@[^\s<>()]+?)(?:<mailto:[^>]*>)?\s*(?:\(|$)")
    end = re.compile(r"^\s*Original message headers:", re.I)


FORMAT = Office365()
