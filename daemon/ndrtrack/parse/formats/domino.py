"""IBM (Lotus) Domino and Notes: "DELIVERY FAILURE: …" / "Undeliverable message".

Domino: "Your message / Subject: … / was not delivered to: / <address> / because: / <reason>"
(e.g. "User … not listed in Domino Directory").  Old Lotus SMTP MTA (Notes): "------- Failure
Reasons --------" with the reason line, then the address, then "------- Returned Message".
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Domino(TextFormat):
    name = "domino"
    order = 40
    hints = re.compile(r"DELIVERY FAILURE:|Undeliverable message|DELIVERY_FAILURE", re.I)
    signature = re.compile(r"was not delivered to:|(?<!-)-{3,}+ Failure Reasons", re.I)
    start = re.compile(r"was not delivered to:|Failure Reasons", re.I)
    recipient = re.compile(r"^\s*<?(?P<addr>[^\s<>@()]+@[^\s<>()]+?)>?\s*$")
    end = re.compile(r"^-{3,} ?Returned Message", re.I)

    def scan(self, text: str) -> tuple[list[tuple[str, str]], str]:
        found, rest = super().scan(text)
        reasons = re.search(r"Failure Reasons\s*-*\s*\n(.*?)\n", text)
        if reasons:  # Notes puts the reason before the address
            found = [(addr, (reasons.group(1) + " " + diag).strip()) for addr, diag in found]
        return found, rest


FORMAT = Domino()
