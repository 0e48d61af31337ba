"""Mail.Ru: Exim-based; a Russian paragraph, then Exim's English report.

The Russian part repeats the recipients and diagnostics of the English one; both are read
and merged per recipient.  Some are RFC 3464 reports.
"""

from __future__ import annotations

import re

from ndrtrack.parse.formats.exim import Exim


class MailRu(Exim):
    name = "mailru"
    order = 20
    hint_only = True
    hints = re.compile(r"mailer-daemon@\S*mail\.ru", re.I)


FORMAT = MailRu()
