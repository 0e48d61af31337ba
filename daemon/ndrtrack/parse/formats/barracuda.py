"""Barracuda Spam Firewall: "**Message you sent blocked by our bulk email filter**".

The human part says "Your message to: rcpt was blocked by our Spam Firewall"; the DSN part
carries the code (``5.7.1``) and is preferred.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Barracuda(TextFormat):
    name = "barracuda"
    order = 20
    hint_only = True
    hints = re.compile(r"blocked by our bulk email filter|Barracuda", re.I)
    signature = re.compile(r"blocked by our Spam Firewall|Barracuda", re.I)
    recipient = re.compile(r"^Your message to:\s*(?P<addr>\S+@\S+)", re.I)


FORMAT = Barracuda()
