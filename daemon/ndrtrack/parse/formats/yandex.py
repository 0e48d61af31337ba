"""Yandex.Mail: RFC 3464 reports from mailer-daemon@yandex.ru, human part in Russian and English."""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.parse.formats._base import DsnFormat


class Yandex(DsnFormat):
    name = "yandex"
    order = 20
    hints = re.compile(r"mailer-daemon@\S*yandex\.", re.I)

    def detect(self, msg: Message) -> bool:
        return self.hinted(msg) or bool(msg.get("X-Yandex-Front"))


FORMAT = Yandex()
