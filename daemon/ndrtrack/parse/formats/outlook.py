"""Outlook.com / Hotmail: "Delivery Status Notification (Failure)" from postmaster@…hotmail/outlook.

An RFC 3464 report; the human part says "Delivery to the following recipients failed." and
lists the addresses.  The remote MTA (``*.hotmail.com``, ``*.outlook.com``) selects the
Microsoft provider rules in the classifier.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class Outlook(TextFormat):
    name = "outlook"
    order = 20
    hint_only = True
    hints = re.compile(r"postmaster@\S*(?:hotmail|outlook|live|msn)\.", re.I)
    signature = re.compile(r"Delivery to the following recipients? failed", re.I)
    start = signature
    recipient = re.compile(r"^\s*(?P<addr>[^\s<>]+@[^\s<>]+)\s*$")


FORMAT = Outlook()
