"""fml: the mailing-list server's error notices (``X-MLServer: fml [fml 4.0 …]``).

fml does not bounce in the SMTP sense: it refuses a post and tells the poster (or the list
admin) in a short text, then quotes the post after "Original mail as follows:".  The
refused address is the list's own, named in angle brackets in that text ("Duplicated
Message-ID in <list@example.org>.", "<list@example.org> ML: NOT MEMBER article from …").
The kind of notice fixes the reason: a loop guard (duplicated Message-ID, "Loop Alert") or
an internal error is the list system's, a post from a non-member is a refusal of the
sender, a "Security Alert" (a post carrying commands or forbidden content) a security
refusal.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus
from ndrtrack.parse.extract import attached_original, clean_address, squeeze
from ndrtrack.parse.formats._base import Format, cached_body
from ndrtrack.parse.headers import original_from_text

_SERVER = re.compile(r"\bfml\b", re.I)
_COPY = re.compile(r"^\s*Original mail as follows:?\s*$", re.I | re.M)
_BRACKETED = re.compile(r"<([^\s<>@]+@[^\s<>]+)>")
_NOTICES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"security alert|security warning", re.I), "securityerror"),
    (
        re.compile(r"not (?:a )?member|members? only|ignored: not|rejected (?:post|article)", re.I),
        "rejected",
    ),
    (
        re.compile(
            r"loop alert|duplicated message-id|loop (?:detected|possibility)|"
            r"fml system error|system error|internal error",
            re.I,
        ),
        "systemerror",
    ),
)


def _reason(text: str) -> str:
    for pattern, reason in _NOTICES:
        if pattern.search(text):
            return reason
    return ""


class Fml(Format):
    name = "fml"
    order = 20

    def detect(self, msg: Message) -> bool:
        """fml stamps X-MLServer on every list post too: only a notice quoting the refused
        post ("Original mail as follows:") is one."""
        return bool(_SERVER.search(str(msg.get("X-MLServer", "")))) and bool(
            _COPY.search(cached_body(msg)[:5000])
        )

    def parse(self, msg: Message) -> Bounce | None:
        text = cached_body(msg)
        copy = _COPY.search(text)
        if copy is None:
            return None
        notice = text[: copy.start()]
        reason = _reason(f"{msg.get('Subject', '')}\n{notice}")
        recipients = [clean_address(a) for a in _BRACKETED.findall(notice)]
        recipients = [r for r in dict.fromkeys(recipients) if r]
        if not reason or not recipients:
            return None
        original = attached_original(msg) or original_from_text(_dedent(text[copy.end() :]))
        reporting = clean_address(str(msg.get("From", ""))).partition("@")[2]
        diagnostic = squeeze(notice)[:1000]
        statuses = tuple(
            DeliveryStatus(
                recipient=r,
                diagnostic=diagnostic,
                reporting_mta=reporting,
                reason=reason,
                permanent=False,
            )
            for r in recipients[:1]  # the list address; later ones are quoted posters
        )
        return Bounce(
            format=self.name, reporting_mta=reporting, original=original, statuses=statuses
        )


def _dedent(text: str) -> str:
    """fml indents the quoted post by three spaces; header parsing needs it flush left."""
    return "\n".join(line[3:] if line.startswith("   ") else line for line in text.splitlines())


FORMAT = Fml()
