"""Exim: "Mail delivery failed: returning message to sender" in plain text (or a DSN).

"This message was created automatically by mail delivery software." then "A message that you
sent could not be delivered to one or more of its recipients. … The following address(es)
failed:" and per recipient an indented address line followed by more indented lines:
"SMTP error from remote mail server after RCPT TO:<a>:" / "host mx.example.org [192.0.2.1]:
550 5.1.1 …".  The copy starts at "------ This is a copy of the message, including all the
headers. ------" (or "--- The header of the original message is following. ---" in 1&1's
variant).  Delay warnings say "has not yet been delivered" / "Warning: message … delayed".
Failed recipients are also listed in the ``X-Failed-Recipients`` header.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats._base import TextFormat

class Exim(TextFormat):
    name = "exim"
    order = 60
    hints = re.compile(r"Mail delivery failed|Warning: message .* delayed|Mail Delivery System", re.I)
    signature = re.compile(
        r"This message was created automatically by mail delivery software|"
        r"could not be delivered to (?:one or more|all) of its\s+recipients", re.I
    )
    start = re.compile(r"following address(?:\(es\)|es)?(?: failed| has| have)|address(?:\(es\)|es)?\s*$|"
                       r"^\s*failed:\s*$|could not be delivered to (?:one or more|all)", re.I)
    recipient = re.compile(r"^\s{0,4}\"?<?(?P<addr>[^\s\"<>:]+@[^\s\"<>:]+?)>?\"?:?(?:\s*$|\s+(?=\S))")
    end = re.compile(r"^-+ ?(?:This is a copy|The header of the original|Original message)|"
                     r"^\s*-{3,} ?(?:This is a copy|The header)", re.I)
    stop = re.compile(r"^\*{6,}|^Рекомендуем|^={10,}")

    def accept(self, address: str, line: str) -> bool:
        return not line.startswith((" " * 5, "\t"))


FORMAT = Exim()
