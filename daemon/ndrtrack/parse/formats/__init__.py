"""The registry of NDR formats: every module in this package that defines ``FORMAT``.

The order is derived here and nowhere else: by each format's ``order`` (specific providers
before general MTAs), then by name.  ``candidates(msg)`` puts formats whose cheap
From/Subject hint matches first; the decoder tries them in that order and the first format
whose ``detect`` and ``parse`` both succeed wins (answers are never merged).
"""

from __future__ import annotations

from email.message import Message

from ndrtrack.parse.extract import remember
from ndrtrack.parse.formats._base import HINTED_ATTR, Format, head
from ndrtrack.parse.gate import Gated, GateTable
from ndrtrack.plugins import discover


def _discover() -> tuple[Format, ...]:
    found = discover(__name__, __path__, Format)
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


REGISTRY: tuple[Format, ...] = _discover()
BY_NAME: dict[str, Format] = {f.name: f for f in REGISTRY}


_HINTS: tuple[tuple[Format, Gated], ...] = tuple(
    (f, Gated(f.hints)) for f in REGISTRY if f.hints is not None
)


# Each distinct hint literal is looked for once per message (many hints share
# "mailer-daemon@"), and only the hints it opens run their regex.
_HINT_GATES = GateTable([gated.literals for _fmt, gated in _HINTS])


def candidates(msg: Message) -> list[Format]:
    """Every registered format, the ones hinted by From/Subject first."""
    text = head(msg)
    low = text.lower()
    ascii = low.isascii()
    hinted = [_HINTS[i][0] for i in _HINT_GATES.opened(low)
              if _HINTS[i][1].found_past_gate(text, low, ascii)]  # opened() checked the gates
    remember(msg, HINTED_ATTR, frozenset(f.name for f in hinted))  # Format.hinted answers
    return hinted + [f for f in REGISTRY if f not in hinted]
