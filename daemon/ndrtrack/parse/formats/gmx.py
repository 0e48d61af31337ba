"""GMX and WEB.DE (United Internet), and 1&1 (kundenserver.de): Exim-derived text.

"The following address failed:" then ``"rcpt":`` (quoted) or ``rcpt:``, then
"SMTP error from remote server after RCPT command:" / "… for TEXT command, host: h (ip)
reason: 550 …"; the copy starts at "--- The header of the original message is following.
---".
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats.exim import Exim


class Gmx(Exim):
    name = "gmx"
    order = 20
    hint_only = True
    hints = re.compile(r"mailer-daemon@\S*(?:gmx\.|web\.de|kundenserver\.de|1and1\.|ionos\.)", re.I)


FORMAT = Gmx()
