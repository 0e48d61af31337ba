"""Small extraction helpers every decoder shares: text of parts, codes in free text, addresses.

Messages are parsed with ``policy=compat32`` (about 6x faster than the modern policy, see
DESIGN.md), so payloads are decoded here explicitly and defensively: a bad charset or broken
base64 gives replacement characters, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message
from typing import Any, TypeVar

from ndrtrack.model import OriginalMessage
from ndrtrack.parse.gate import gate_open
from ndrtrack.parse.headers import original_from_headers, original_from_text

T = TypeVar("T")

# RFC 3463 enhanced status code; look-arounds keep IP addresses and versions out.  The
# first digit leads and the look-behinds follow it (spanning it): the engine then scans for
# [245] instead of trying the look-behinds at every offset (half the time per text), with
# the same matches (a test holds both forms to the same spans and groups).
STATUS = re.compile(
    r"([245])(?<![\w.][245])(?<![A-Za-z]-[245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d|-\d)"
)
# RFC 5321 reply code at the start of a reply line ("550 ", "550-", "550 5.1.1"); the
# look-behind follows the first digit for the same reason.
REPLY = re.compile(r"([245](?<![\w.:/=#-][245])[0-5]\d)(?=[ \t-]|:\s|$)", re.M)
# Linear on any input: the lookbehind starts a local part only at its first character and the
# possessive bound keeps the engine from retrying shorter local parts.
ADDRESS = re.compile(
    r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?){0,16}"
)
_QUOTED_ADDRESS = re.compile(r'"[^"\r\n\\]{1,64}"@[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]')
_CHARSET = re.compile(r"charset\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s;]+)", re.I)
_TAGS = re.compile(r"<[^>]{0,2000}>")
_ENTITY = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&nbsp;": " ", "&quot;": '"'}
_ENTITIES = re.compile("|".join(_ENTITY))
# Both run on lowercased text, each keyword's first letter leading and ``\b`` written as a
# look-behind after it: then the engine scans for those letters (a charset prefix) instead
# of trying every alternative at every offset of the text, as it does with re.I and ``\b``.
_REMOTE_HOST = re.compile(
    r"(?:h(?<!\wh)ost:?|s(?<!\ws)erver|m(?<!\wm)x|by|a(?<!\wa)t|f(?<!\wf)rom|"
    r"mail exchanger)\s+\[?([a-z0-9][a-z0-9.-]{0,250}\.[a-z]{2,63}"
    r"|\d{1,3}(?:\.\d{1,3}){3})\]?"
)
_COMMAND = re.compile(
    r"(?:a(?<!\wa)fter|i(?<!\wi)n reply to|w(?<!\ww)hile talking to[^:]*:\s*>>>)\s*(?:the\s+)?"
    r"(rcpt to|mail from|data|end of data|helo|ehlo|starttls|initial connection|connect|"
    r"end of data|final data)"
)
# Every match of _COMMAND holds one of these: asked first, since the pattern's first letters
# (a, i, w) are too common for the engine's scan to skip much of a diagnostic.
_COMMAND_WORDS = ("after", "in reply to", "while talking to")
_COMMAND_NAMES = {
    "rcpt to": "RCPT",
    "mail from": "MAIL",
    "data": "DATA",
    "end of data": "DATA",
    "final data": "DATA",
    "helo": "HELO",
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "initial connection": "CONN",
    "connect": "CONN",
}


_IDENTITY_CTE = frozenset({"", "7bit", "8bit", "binary"})


def _identity_bytes(part: Message) -> bytes | None:
    """What ``part.get_payload(decode=True)`` returns for an identity transfer encoding
    (most NDR text), taken directly: the stdlib first UTF-8-encodes the whole payload only
    to look for surrogates, then encodes it again.  None: ask the stdlib."""
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return None
    if str(part.get("content-transfer-encoding", "")).lower() not in _IDENTITY_CTE:
        return None
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # text that never was bytes: the stdlib's way
        return None


def decoded_payload(part: Message) -> str:
    """The text of a non-multipart part, transfer-decoded and charset-decoded leniently;
    decoded once and kept on the part (formats, the DSN reader and detectors all ask)."""
    text = recall(part, "decoded")
    if text is None:
        text = remember(part, "decoded", _decoded_payload(part))
    return text  # type: ignore[no-any-return]


def _decoded_payload(part: Message) -> str:
    raw: Any = _identity_bytes(part)
    if raw is None:
        try:
            raw = part.get_payload(decode=True)
        except (ValueError, TypeError, AssertionError):
            raw = None
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    match = _CHARSET.search(str(part.get("Content-Type", "")))
    charset = match.group(1).strip("\"'").lower() if match else "utf-8"
    if not isinstance(raw, bytes):
        return ""
    try:
        return raw.decode(charset, "replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", "replace")


def html_to_text(html: str) -> str:
    """Rough HTML → text: line breaks at block tags, tags dropped, common entities decoded."""
    html = re.sub(r"(?i)<\s*(br|/p|/div|/tr|/li|/h\d)[^>]{0,200}>", "\n", html)
    html = re.sub(r"(?is)<(style|script)[^>]*>.*?</\1\s*>", "", html)
    text = _TAGS.sub("", html)
    return _ENTITIES.sub(lambda m: _ENTITY[m.group(0)], text)


# What an NDR has to say is at the top of its text parts: reading further only costs time
# (a 20 MB text part is cut here, before any line-by-line scan).
MAX_TEXT = 256 * 1024


_set = object.__setattr__


def evolve(record: T, **changes: Any) -> T:
    """``dataclasses.replace`` for the frozen, slotted records of :mod:`ndrtrack.model`, in
    half the time: the slots are copied instead of passing every field through the
    generated ``__init__`` (those records have no ``__post_init__`` and no ``init=False``
    field, so the result is the same).  Every record of every message is replaced at least
    once (its reason, its command, the decoder's errors)."""
    cls = type(record)
    names = getattr(cls, "__slots__", None)
    if type(names) is not tuple:
        return replace(record, **changes)  # type: ignore[type-var]
    new = object.__new__(cls)
    used = 0
    for name in names:
        if name in changes:
            _set(new, name, changes[name])
            used += 1
        else:
            _set(new, name, getattr(record, name))
    if used != len(changes):  # a name that is no field: replace's own TypeError
        return replace(record, **changes)  # type: ignore[type-var]
    return new


def remember(msg: Message, key: str, value: T) -> T:
    """Keep a value computed from ``msg`` on the message itself (several formats ask for it)."""
    vars(msg)["_ndrtrack_" + key] = value
    return value


def recall(msg: Message, key: str) -> Any:
    """A value kept by :func:`remember`, or None."""
    return vars(msg).get("_ndrtrack_" + key)


def typed_parts(msg: Message) -> list[tuple[Message, str]]:
    """(part, content type) for the message's own parts in order, kept on the message.

    Attached messages are listed but not entered: the returned original may itself be a
    bounce, and its parts are not this report's.  ``get_content_type`` scans the headers
    each time, so it is asked once per part.
    """
    cached = recall(msg, "typed")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: list[tuple[Message, str]] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        ctype = recall(part, "ctype") or part.get_content_type()  # kept by parse.mime
        found.append((part, ctype))
        payload = getattr(part, "_payload", None)  # the parsed tree, without get_payload's checks
        if isinstance(payload, list) and not ctype.startswith("message/"):
            stack[0:0] = [p for p in payload if isinstance(p, Message)]
    return remember(msg, "typed", found)


def text_parts(msg: Message, *, html: bool = True) -> list[str]:
    """Texts of the message's own text parts (see :func:`typed_parts`), kept on the message."""
    key = "texts_html" if html else "texts_plain"
    cached = recall(msg, key)
    if cached is None:
        cached = remember(msg, key, _text_parts(msg, html))
    return list(cached)


def _text_parts(msg: Message, html: bool) -> list[str]:
    found: list[str] = []
    for part, ctype in typed_parts(msg):
        if isinstance(getattr(part, "_payload", None), list):
            continue
        if (
            ctype in ("text/plain", "message/delivery-status")
            or ctype.startswith("multipart/")
            or (ctype == "text/html" and html)
        ):
            text = decoded_payload(part)[:MAX_TEXT]
            found.append(html_to_text(text) if ctype == "text/html" else text)
    return found


def body_text(msg: Message) -> str:
    """The first plain (or HTML) text part: the human-readable explanation of most NDRs."""
    plain = [t for t in text_parts(msg, html=False) if t.strip()]
    if plain:
        return plain[0]
    texts = text_parts(msg)
    return texts[0] if texts else ""


def attached_original(msg: Message) -> OriginalMessage | None:
    """The returned message from a ``message/rfc822`` or ``text/rfc822-headers`` part."""
    for part, ctype in typed_parts(msg):
        if ctype in ("message/rfc822", "message/global"):
            payload = getattr(part, "_payload", None)
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return original_from_headers(payload[0])
        elif ctype in ("text/rfc822-headers", "message/global-headers", "message/rfc822-headers"):
            return original_from_text(decoded_payload(part))
    return None


def first_status(text: str) -> str:
    """The most specific enhanced status code in ``text`` ("" when none).

    A text often quotes the generic class first ("5.0.0") and a precise code later; a code
    other than x.0.0 wins.
    """
    generic = ""
    for match in STATUS.finditer(text):
        code = ".".join(match.groups())
        if not code.endswith(".0.0"):
            return code
        generic = generic or code
    return generic


def first_reply(text: str) -> str:
    """The first failure (4xx/5xx) reply code in ``text``, else the first reply code, else "".

    A quoted dialogue often starts with the greeting ("220 mx ESMTP") before the refusal.
    """
    first = ""
    for match in REPLY.finditer(text):
        code = match.group(1)
        if code[0] in "45":
            return code
        first = first or code
    return first


def clean_address(value: str) -> str:
    """``rfc822; <Foo@Example.org>`` → ``foo@example.org`` ("" when no address is there)."""
    value = value.strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    quoted = _QUOTED_ADDRESS.search(value)
    if quoted:
        return quoted.group(0).lower()
    match = ADDRESS.search(value)
    return match.group(0).strip(".").lower() if match else ""


def squeeze(text: str) -> str:
    """Collapse runs of whitespace: diagnostics are compared and displayed on one line."""
    return " ".join(text.split())  # no blank runs, no leading/trailing blanks are left


def smtp_command(text: str) -> str:
    """The SMTP command a diagnostic says the failure happened after ("" when not said)."""
    lowered = text.lower()
    if not gate_open(_COMMAND_WORDS, lowered):
        return ""
    match = _COMMAND.search(lowered)
    return _COMMAND_NAMES.get(match.group(1), "") if match else ""


def remote_host(text: str) -> str:
    """The remote MTA a diagnostic names (``host mx.example.org [192.0.2.1]``), or ""."""
    match = _REMOTE_HOST.search(text.lower())
    return match.group(1).rstrip(".") if match else ""


def addresses_in_text(text: str) -> list[str]:
    """Every distinct address in ``text``, lowercased, in order of appearance."""
    seen: list[str] = []
    for match in ADDRESS.finditer(text):
        address = match.group(0).strip(".").lower()
        if address not in seen:
            seen.append(address)
    return seen
