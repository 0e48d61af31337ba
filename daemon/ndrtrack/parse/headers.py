"""The returned original's headers: identity fields, the ``Received:`` chain and queue ids.

An NDR usually carries the message that failed (a ``message/rfc822`` part, a
``text/rfc822-headers`` part, or plain text after a "copy of the message" line).  Its
Message-ID, sender and ``Received:`` chain are what lets ndrtrack find the message in the
mail logs, so this module turns them into an :class:`OriginalMessage` with :class:`Hop`
records.

``Received:`` headers follow RFC 5321 §4.4 only loosely; every MTA writes its own dialect:

- Postfix:  ``from helo (rdns [ip]) by host (Postfix) with ESMTPS id QUEUEID for <a>; date``
- Exim:     ``from rdns ([ip] helo=helo) by host with esmtps (TLS1.3) ... id 1abcDE-000123-Xy``
- Sendmail: ``from helo (rdns [ip]) by host (8.15.2/8.15.2) with ESMTP id p7V3i843003008``
- qmail:    ``(qmail 8888 invoked by uid 0); date`` or ``from unknown (HELO x) (ip) by h``
- Google/Microsoft add ``(version=TLS1_2 cipher=...)`` comments.

So the parser picks the clauses (``from``, ``by``, ``with``, ``id``, ``;date``) by keyword
instead of by position, and never fails: an unreadable header gives a mostly empty Hop.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parsedate_to_datetime

from ndrtrack.model import Hop, OriginalMessage

_WS = re.compile(r"\s+")
# A keyword's first letter leads each pattern and ``\b`` is a look-behind after it: the
# engine then scans for that letter (a charset prefix) instead of trying the whole pattern
# at every offset, which is what a leading ``\b`` under re.I costs on every header.
_FROM = re.compile(r"^\s*from\s+(\S+)", re.I)
_BY = re.compile(r"[Bb](?<!\w[Bb])[Yy]\s+([^\s;()]+)")
_BY_START = re.compile(r"[Bb](?<!\w[Bb])[Yy]\s")
_WITH = re.compile(r"[Ww](?<!\w[Ww])(?i:ith)\s+([A-Za-z0-9][A-Za-z0-9_.-]*)")
_ID = re.compile(r"[Ii](?<!\w[Ii])[Dd]\s+<?([A-Za-z0-9][A-Za-z0-9._\-/=+]*)")
_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]*[0-9A-Fa-f][0-9A-Fa-f:.]*)\]")
_BARE_IPV4 = re.compile(r"(\d(?<![\d.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3})(?![\d.])")
_HELO = re.compile(r"[Hh](?<!\w[Hh])(?i:elo)[= ]\s*(\[[^\]\s]*\]|[^\s()\[\]]+)")
# Matched on the lowercased header (only whether it matches counts).
_TLS = re.compile(
    r"t(?<!\wt)ls|s(?<!\ws)sl|c(?<!\wc)ipher=|v(?<!\wv)ersion=tls|e(?<!\we)smtps\b|"
    r"s(?<!\ws)mtps\b|e(?<!\we)smtpsa\b|l(?<!\wl)mtps\b"
)
_QMAIL = re.compile(r"\(qmail\s+\d+\s+invoked", re.I)
_COMMENT = re.compile(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)")

# Queue ids that MTAs put into headers or diagnostics.
_POSTFIX_QID = re.compile(r"\b(?:queued as|Queue-ID:?)\s+([0-9A-Za-z]{6,20})\b", re.I)
_EXIM_ID = re.compile(
    r"(?<![\w-])([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}"
    r"|[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4})(?![\w-])"
)
_SENDMAIL_ID = re.compile(r"(?<![\w])([0-9A-Za-z]{8}\d{6})(?![\w])")


def decode_words(value: str | None) -> str:
    """Decode RFC 2047 encoded words and unfold; never raises (bad charsets are replaced)."""
    if not value:
        return ""
    text = str(value)
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except (LookupError, ValueError, UnicodeError, AssertionError, TypeError):
            pass
    return " ".join(text.split())  # str.split and re's \s agree on what is whitespace


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# The common shape "Thu, 29 Apr 2010 23:34:45 +0900"; anything else takes the stdlib path.
_RFC5322_DATE = re.compile(
    r"^\s*(?:[A-Za-z]{3},?\s+)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s+([+-])(\d{2})(\d{2})(?!\d)"
)


_ZONES: dict[tuple[str, str, str], timezone] = {}


def _zone(sign: str, hours: str, minutes: str) -> timezone:
    """The fixed-offset zone of "+0900" (a handful of offsets recur: built once each)."""
    key = (sign, hours, minutes)
    zone = _ZONES.get(key)
    if zone is None:
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        zone = timezone(-offset if sign == "-" else offset)
        if len(_ZONES) < 512:
            _ZONES[key] = zone
    return zone


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 date, or None when absent or unreadable."""
    if not value:
        return None
    fast = _RFC5322_DATE.match(value)  # anchored at the start anyway
    if fast is not None:
        day, month, year, hour, minute, second, sign, zone_h, zone_m = fast.groups()
        try:
            return datetime(  # positional: half the cost of tzinfo= on every hop
                int(year),
                _MONTHS[month.lower()],
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                0,
                _zone(sign, zone_h, zone_m),
            )
        except (ValueError, KeyError, OverflowError):
            pass
    try:
        when = parsedate_to_datetime(_WS.sub(" ", value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # RFC 5322 §3.3: "-0000" is UTC with the local zone unknown; keep every datetime aware.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _from_clause(text: str) -> tuple[str, str, str]:
    """(host, helo, ip) from the ``from`` clause of a Received header."""
    match = _FROM.match(text)
    if not match:
        return "", "", ""
    first = match.group(1).strip("[]")
    rest = text[match.end() :]
    by_at = _BY_START.search(rest)
    head = rest[: by_at.start()] if by_at else rest
    comments = " ".join(_COMMENT.findall(head))  # its one group: the comment's text
    addressed = _HELO.sub(" ", comments)  # an IP given as HELO is not the client's address
    ip_match = _IP.search(addressed) or _BARE_IPV4.search(addressed)
    ip = ip_match.group(1) if ip_match else ""
    if not ip and _IP.fullmatch(match.group(1)):
        ip = first
    helo_match = _HELO.search(head)
    helo = helo_match.group(1).strip("?") if helo_match else first
    host = ""
    if comments:
        words = comments.split()
        if words and not words[0].startswith(("[", "helo", "HELO", "envelope")):
            host = words[0].rstrip(".")
    if not ip and _BARE_IPV4.fullmatch(first):
        ip = first
    if not host and not _BARE_IPV4.fullmatch(first) and "helo=" not in head.lower():
        host = first
    return host.lower(), helo, ip


def parse_received(value: str) -> Hop:
    """One ``Received:`` header value → :class:`Hop` (fields left empty when not given)."""
    text = " ".join(str(value or "").split())
    body, _, date_text = text.rpartition(";")
    if not body:
        body, date_text = text, ""
    host, helo, ip = _from_clause(body)
    # "(qmail 1 invoked by uid 0)" names no host
    bare = _COMMENT.sub(" ", body) if "(" in body else body
    by_match = _BY.search(bare)
    with_match = _WITH.search(bare)
    id_match = _ID.search(bare)
    protocol = with_match.group(1) if with_match else ""
    if not protocol and _QMAIL.search(body):
        protocol = "qmail"
    return _hop(
        host,
        helo,
        ip,
        by_match.group(1).lower() if by_match else "",
        protocol,
        id_match.group(1).rstrip(".") if id_match else "",
        _tls(body.lower()),
        parse_date(date_text),
    )


# Hop's slots, set directly: the frozen dataclass's __init__ passes each of the eight fields
# through object.__setattr__ by name (1.5 us a hop; 0.6 us here).  Hop has no
# __post_init__ and no init=False field, so the record is the same (a test holds it to
# Hop(...)).
_HOP_SLOTS = tuple(vars(Hop)[name].__set__ for name in Hop.__slots__)
if tuple(Hop.__slots__) != tuple(Hop.__dataclass_fields__):  # pragma: no cover
    raise ImportError("Hop's slots no longer follow its fields: update _hop")


def _hop(
    from_host: str,
    from_helo: str,
    from_ip: str,
    by_host: str,
    protocol: str,
    queue_id: str,
    tls: bool,
    at: datetime | None,
) -> Hop:
    """``Hop(...)`` with the fields in declaration order, built slot by slot."""
    hop = object.__new__(Hop)
    set_host, set_helo, set_ip, set_by, set_protocol, set_id, set_tls, set_at = _HOP_SLOTS
    set_host(hop, from_host)
    set_helo(hop, from_helo)
    set_ip(hop, from_ip)
    set_by(hop, by_host)
    set_protocol(hop, protocol)
    set_id(hop, queue_id)
    set_tls(hop, tls)
    set_at(hop, at)
    return hop


def _tls(lowered: str) -> bool:
    """Whether a (lowercased) Received header says TLS; every match of ``_TLS`` contains one
    of these words, so most plain-SMTP hops are answered without the regex."""
    if ("tls" in lowered or "ssl" in lowered or "cipher=" in lowered or "smtps" in lowered
            or "lmtps" in lowered):
        return _TLS.search(lowered) is not None
    return False


_ADDRESS = re.compile(
    r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?){0,16}"
)


def _addresses(values: list[str]) -> tuple[str, ...]:
    """Addresses in address headers, lowercased, in order, without duplicates.

    A regular expression instead of ``getaddresses``: display names never contain an
    ``@``-joined word that matters here, and it is several times faster on the hot path.
    """
    found: list[str] = []
    for value in values:
        text = str(value or "")
        if "=?" in text:
            text = decode_words(text)
        for match in _ADDRESS.finditer(text):
            address = match.group(0).strip(".").lower()
            if address not in found:
                found.append(address)
    return tuple(found)


_WANTED = frozenset(
    {"return-path", "from", "to", "cc", "subject", "message-id", "date", "received"}
)
MAX_HOPS = 50  # a Received chain longer than this is a loop or an attack, not a route


_SURROGATE = re.compile("[\udc80-\udcff]")


def _clean(value: object) -> str:
    """A raw header value as text; bytes that were not UTF-8 become U+FFFD, not surrogates."""
    text = str(value)
    if not text.isascii() and _SURROGATE.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _header_map(msg: Message) -> dict[str, list[str]]:
    """The headers this module reads, by lowercased name, in one pass over the header list
    (``Message.get`` rescans every header on each call)."""
    found: dict[str, list[str]] = {}
    for name, value in getattr(msg, "_headers", ()):  # the raw list, read once
        key = name.lower()
        if key in _WANTED:
            found.setdefault(key, []).append(_clean(value))
    return found


def original_from_headers(msg: Message) -> OriginalMessage:
    """The identity and route of a (returned or re-sent) message, from its header block."""
    fields = _header_map(msg)

    def first(name: str) -> str:
        values = fields.get(name)
        return values[0] if values else ""

    return_path = _addresses([first("return-path")])
    senders = return_path or _addresses([first("from")])
    return OriginalMessage(
        message_id=decode_words(first("message-id")).strip(),
        sender=senders[0] if senders else "",
        recipients=_addresses(fields.get("to", []) + fields.get("cc", [])),
        subject=decode_words(first("subject")),
        date=parse_date(first("date")),
        received=tuple(parse_received(v) for v in fields.get("received", [])[:MAX_HOPS]),
        from_header=decode_words(first("from")),
    )


_HEADER_LINE = re.compile(r"^[!-9;-~]+:")
# A quoted header block is read from this much text: the returned message's body (often
# most of the text) is never split into lines just to find where its headers end.
MAX_HEADER_TEXT = 64 * 1024


def original_from_text(text: str) -> OriginalMessage:
    """Headers of a returned message quoted as plain text (after a "copy follows" line).

    Leading blank or indented lines are dropped, and the block ends at the first line that is
    neither a header nor a continuation, so a quoted body never leaks into the headers.
    """
    lines = text[:MAX_HEADER_TEXT].lstrip("\r\n").splitlines()
    start = 0
    while start < len(lines) and not _HEADER_LINE.match(lines[start].lstrip()):
        start += 1
        if start > 5:
            return OriginalMessage()
    block: list[str] = []
    for line in lines[start:]:
        if _HEADER_LINE.match(line) or (block and line[:1] in (" ", "\t") and line.strip()):
            block.append(line)
        elif block and not line.strip():
            break
        elif block:
            break
    if not block:
        return OriginalMessage()
    return original_from_headers(_header_block(block))


def _header_block(lines: list[str]) -> Message:
    """A Message holding only the given header lines (continuations folded in)."""
    msg = Message()
    fields: list[tuple[str, str]] = vars(msg)["_headers"]  # compat32 stores (name, value)
    name, value = "", ""
    for line in lines:
        if line[:1] in (" ", "\t") and name:
            value += "\n" + line
            continue
        if name:
            fields.append((name, value))
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
    if name:
        fields.append((name, value))
    return msg


def queue_id_in_text(text: str) -> str:
    """A Postfix, Exim or Sendmail queue id mentioned in free text (a diagnostic), or ""."""
    for pattern in (_POSTFIX_QID, _EXIM_ID):
        match = pattern.search(text)
        if match:
            return match.group(1)
    return ""


def queue_id_for(original: OriginalMessage, reporting_mta: str) -> str:
    """The reporting MTA's queue id of the original: the id of the hop it wrote, else ""."""
    reporting = reporting_mta.lower()
    for hop in original.received:
        if hop.queue_id and reporting and hop.by_host == reporting:
            return hop.queue_id
    for hop in original.received:
        if hop.queue_id and (
            _EXIM_ID.fullmatch(hop.queue_id) or _SENDMAIL_ID.fullmatch(hop.queue_id)
        ):
            return hop.queue_id
    return ""
