"""DragonFly Mail Agent (dma): one recipient per bounce, plain text.

"This is the DragonFly Mail Agent v0.13 at host." then "There was an error delivering your
mail to <rcpt>." and the remote reply ("mx [ip] did not like our RCPT TO: 550 …" / "…final
DATA:"), then "Message headers follow." and the original headers.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat


class DragonFly(TextFormat):
    name = "dragonfly"
    order = 30
    hints = re.compile(r"Mail delivery failed", re.I)
    signature = re.compile(r"This is the DragonFly Mail Agent", re.I)
    start = None
    recipient = re.compile(r"error delivering your mail to <(?P<addr>[^\s<>]+@[^\s<>]+)>")
    end = re.compile(r"^Message headers follow", re.I)
    prefer_dsn = False


FORMAT = DragonFly()
