"""Oracle (Sun, iPlanet) Communications Messaging Server and PMDF: "Delivery Notification".

A ``multipart/report`` whose human part reads "This report relates to a message you sent
with the following header fields:" and, per recipient, "Recipient address: …", "Reason: …",
"Diagnostic code: smtp;550 …", "Remote system: dns;…".  The delivery-status part repeats this;
when it is missing, the human part's "Recipient address:" blocks are read.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class MessagingServer(TextFormat):
    name = "messagingserver"
    order = 40
    hints = re.compile(r"Delivery Notification: Delivery has (?:failed|been delayed)", re.I)
    signature = re.compile(r"This report relates to a message you sent", re.I)
    start = re.compile(r"cannot be delivered to the following recipients|has been delayed", re.I)
    recipient = re.compile(r"^\s*Recipient address:\s*(?P<addr>\S+@\S+)", re.I)
    end = re.compile(r"^(?:Original-envelope-id|Reporting-MTA):", re.I)


FORMAT = MessagingServer()
