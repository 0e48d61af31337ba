"""Find the NDR (or the re-sent original) inside what a person forwarded to us.

A forward arrives in one of a few shapes, each a *layer* around the message we want:

- ``message/rfc822`` or ``message/global`` parts ("forward as attachment"), sometimes with a
  base64 or quoted-printable transfer encoding that Python's ``email`` package leaves encoded;
- ``.eml`` files sent as ``application/octet-stream`` (or any type, recognised by name and by
  a header-shaped first line);
- Outlook's TNEF ``winmail.dat`` (``application/ms-tnef``) and ``.msg`` attachments;
- inline forwards, where only text is left (see :mod:`ndrtrack.parse.forward_text`): the
  recovered fields become a synthetic message, and RFC 3464 field blocks found in the text
  are put back into a ``multipart/report`` so the decoder reads them as a DSN again.

:func:`iter_layers` yields the message itself first and then the embedded messages,
breadth-first, each with its depth, how it was found and who forwarded it; the caller decodes
each until one is an NDR.  An NDR's own ``message/rfc822`` part is the *returned original*,
not a forward: a message that is structurally a report is never descended into.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from ndrtrack.parse import containers
from ndrtrack.parse.forward_text import InlineForward, find_forward, html_to_text
from ndrtrack.parse.mime import parse_message

MAX_LAYERS = 64
MAX_DEPTH = 60
MAX_TEXT = 1 << 20  # inline forwards are looked for in the first MiB of text
MAX_ATTACHMENT = 32 << 20

REPORT_PARTS = frozenset({
    "message/delivery-status", "message/global-delivery-status", "message/feedback-report",
    "message/disposition-notification", "text/rfc822-headers", "message/global-headers",
})
EMBEDDED_TYPES = frozenset({"message/rfc822", "message/global"})
EML_NAMES = (".eml", ".mht", ".message")
EML_TYPES = frozenset({"application/x-eml", "application/eml", "application/x-message-rfc822",
                       "message/x-emlx"})
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:[ \t]?\S?")
_DAEMON_FROM = re.compile(r"mailer-daemon|mail delivery (?:system|subsystem)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Layer:
    """One message found in a forward; ``depth`` 0 is what arrived."""

    message: Message
    depth: int = 0
    via: tuple[str, ...] = ()
    forwarder: str = ""
    inline: InlineForward | None = None

    @property
    def path(self) -> str:
        return " > ".join(self.via) if self.via else "top"


@dataclass
class UnwrapLog:
    """Problems met while unwrapping (recorded, never raised)."""

    errors: list[str] = field(default_factory=list)


def parse_bytes_compat(raw: bytes) -> Message:
    """The hot-path parser: the stdlib's compat32 tree, built by :mod:`ndrtrack.parse.mime`
    (several times faster, and it cuts leaf bodies over a few MB — see ``truncations``)."""
    return parse_message(raw)


CONTAINER_HEADER = "X-Ndrtrack-Container"
CONTAINER_MAGIC = {
    containers.OLE_MAGIC: ("application/vnd.ms-outlook", "message.msg"),
    containers.TNEF_MAGIC: ("application/ms-tnef", "winmail.dat"),
}


def arrived(raw: bytes) -> Message:
    """What arrived, as a message: a bare Outlook ``.msg`` or TNEF file (saved from Outlook
    and handed to ``ndrtrack parse``) becomes a message carrying it, so the container is
    unwrapped like an attachment; anything else is parsed as RFC 5322."""
    for magic, (ctype, name) in CONTAINER_MAGIC.items():
        if raw.startswith(magic):
            msg = Message()
            msg[CONTAINER_HEADER] = name
            msg["Content-Type"] = f'{ctype}; name="{name}"'
            msg["Content-Transfer-Encoding"] = "base64"
            msg.set_payload(base64.encodebytes(raw).decode("ascii"))
            return msg
    return parse_bytes_compat(raw)


def header_text(msg: Message, name: str) -> str:
    """A header decoded from RFC 2047 words, tolerant of broken charsets."""
    value = msg.get(name)
    if value is None:
        return ""
    value = str(value)
    if "=?" not in value:
        return " ".join(value.split())
    try:
        return " ".join(str(make_header(decode_header(value))).split())
    except (LookupError, ValueError, UnicodeError, binascii.Error, AssertionError):
        return " ".join(value.split())


def is_report(msg: Message) -> bool:
    """True for a message whose embedded message is a returned original, not a forward."""
    if msg.get_content_type() == "multipart/report":
        return True
    if _DAEMON_FROM.search(header_text(msg, "From")):
        return True
    payload = msg.get_payload() if msg.is_multipart() else []
    return any(isinstance(p, Message) and p.get_content_type() in REPORT_PARTS for p in payload)


def iter_layers(msg: Message, log: UnwrapLog | None = None) -> Iterator[Layer]:
    """The message, then every message embedded in it (breadth-first, bounded)."""
    log = log if log is not None else UnwrapLog()
    queue: deque[Layer] = deque([Layer(msg)])
    emitted = 0
    while queue and emitted < MAX_LAYERS:
        layer = queue.popleft()
        emitted += 1
        yield layer
        if layer.depth >= MAX_DEPTH or is_report(layer.message):
            continue
        forwarder = header_text(layer.message, "From")
        for via, child, inline in children(layer.message, log):
            queue.append(Layer(child, layer.depth + 1, (*layer.via, via), forwarder, inline))


def children(msg: Message, log: UnwrapLog) -> list[tuple[str, Message, InlineForward | None]]:
    """Messages carried by ``msg``: attached ones in document order, then an inline forward."""
    found: list[tuple[str, Message, InlineForward | None]] = []
    for part in _own_parts(msg):
        try:
            found.extend((via, child, None) for via, child in _attached(part, log))
        except Exception as exc:  # noqa: BLE001 - one broken part must not stop the others
            log.errors.append(f"unwrap: {part.get_content_type()}: {type(exc).__name__}: {exc}")
    try:
        inline = _inline(msg)
    except Exception as exc:  # noqa: BLE001 - a broken text part must not lose the attachments
        log.errors.append(f"unwrap: inline: {type(exc).__name__}: {exc}")
        inline = None
    if inline is not None:
        found.append(inline)
    return found


def _own_parts(msg: Message) -> Iterator[Message]:
    """Parts of ``msg`` without entering embedded messages (those are layers of their own)."""
    stack = [msg]
    seen = 0
    while stack and seen < 10_000:
        part = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        elif part is not msg or not msg.is_multipart():
            yield part


def _attached(part: Message, log: UnwrapLog) -> Iterator[tuple[str, Message]]:
    ctype = part.get_content_type()
    if ctype in EMBEDDED_TYPES:
        yield from _embedded(part, ctype)
        return
    name = (part.get_filename() or part.get_param("name") or "")
    name = str(name).lower() if not isinstance(name, tuple) else str(name[2]).lower()
    if ctype == "application/ms-tnef" or name.endswith("winmail.dat") or name.endswith(".tnef"):
        data = _payload_bytes(part)
        yield from (("tnef", m) for m in containers.tnef_messages(data, log.errors))
    elif ctype == "application/vnd.ms-outlook" or name.endswith(".msg"):
        data = _payload_bytes(part)
        yield from (("msg", m) for m in containers.msg_messages(data, log.errors))
    elif name.endswith(EML_NAMES) or ctype in EML_TYPES or (
            ctype == "application/octet-stream" and not name):
        data = _payload_bytes(part)
        if data and _looks_like_message(data):
            yield "eml-attachment", parse_bytes_compat(data)


def _embedded(part: Message, ctype: str) -> Iterator[tuple[str, Message]]:
    """A ``message/rfc822`` part; decode it ourselves when it carries a transfer encoding."""
    via = "rfc822" if ctype == "message/rfc822" else "global"
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if cte in ("base64", "quoted-printable"):
        text = inner.get_payload() if isinstance(inner, Message) else payload
        if isinstance(text, str):
            data = _decode_cte(text.encode("ascii", "replace"), cte)
            if _looks_like_message(data):
                yield f"{via}-{cte}", parse_bytes_compat(data)
                return
    if isinstance(inner, Message):
        yield via, inner
    elif isinstance(payload, str) and payload.strip():
        yield via, parse_bytes_compat(payload.encode("utf-8", "surrogateescape"))


def _decode_cte(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data) + b"===")
        except (binascii.Error, ValueError):
            return b""
    return quopri.decodestring(data)


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes) and len(data) <= MAX_ATTACHMENT:
        return data
    return b""


def _looks_like_message(data: bytes) -> bool:
    """An RFC 5322 message starts with header lines (``Name: value``), maybe a ``From `` line."""
    head = data.lstrip()[:4096]
    if head.startswith(b"From "):
        head = head.split(b"\n", 1)[-1]
    lines = head.splitlines()[:3]
    return bool(lines) and all(_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t")
                               for line in lines[:2])


def message_text(msg: Message, limit: int = MAX_TEXT) -> str:
    """The readable text of ``msg``: its first text/plain part, else its HTML as text."""
    plain = html_part = None
    for part in _own_parts(msg):
        if part.get("Content-Disposition", "").lower().startswith("attachment"):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    text = decode_text(plain, limit) if plain is not None else ""
    if text.strip() or html_part is None:
        return text
    if html_part is not None:
        return html_to_text(decode_text(html_part, limit))
    return ""


def decode_text(part: Message, limit: int = MAX_TEXT) -> str:
    """A text part's payload decoded by its charset (unknown/broken charsets fall back)."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        raw = part.get_payload()
        return raw[:limit] if isinstance(raw, str) else ""
    data = data[:limit]
    charset = str(part.get_content_charset() or "utf-8")
    for candidate in (charset, "utf-8"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _inline(msg: Message) -> tuple[str, Message, InlineForward] | None:
    text = message_text(msg)
    if not text:
        return None
    forward = find_forward(text, outer_subject=header_text(msg, "Subject"))
    if forward is None:
        return None
    return f"inline-{forward.style}", synthetic_message(forward), forward


DSN_FIELD = re.compile(
    r"^(?:Reporting-MTA|Final-Recipient|Original-Recipient|Action|Status|Diagnostic-Code|"
    r"Remote-MTA|Last-Attempt-Date|Arrival-Date|Received-From-MTA|X-Postfix-Queue-ID|"
    r"X-Postfix-Sender|Will-Retry-Until|Original-Envelope-Id|DSN-Gateway|X-Actual-Recipient|"
    r"X-Display-Name)[ \t]*:",
    re.IGNORECASE,
)
ORIGINAL_HEADER = re.compile(
    r"^(?:Received|Return-Path|Message-ID|From|To|Subject|Date|DKIM-Signature|MIME-Version|"
    r"Content-Type|X-[\w-]{1,60}|Authentication-Results|Delivered-To)[ \t]*:", re.IGNORECASE
)


def synthetic_message(forward: InlineForward) -> Message:
    """Rebuild a message from an inline forward, restoring a DSN's report structure if seen."""
    head = ""
    for name, value in (("From", forward.sender), ("To", forward.to), ("Cc", forward.cc),
                        ("Date", forward.date), ("Subject", forward.subject),
                        ("Reply-To", forward.reply_to)):
        value = " ".join(value.split())
        if value:
            head += f"{name}: {value if value.isascii() else Header(value, 'utf-8').encode()}\n"
    head += _pasted(forward.headers)
    head += f"X-Ndrtrack-Inline: {forward.style}\nMIME-Version: 1.0\n"
    report = _split_report(forward.body)
    if report is None:
        body = forward.body
        head += 'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n'
    else:
        kind = report[0]
        body = _report_body(*report)
        head += (f"Content-Type: multipart/report; report-type={kind.report_type}; "
                 f'boundary="{_BOUNDARY}"\n')
    return parse_bytes_compat(f"{head}\n{body}\n".encode("utf-8", "surrogateescape"))


_BOUNDARY = "=_ndrtrack_inline_report"
_OWN_FIELDS = frozenset({"from", "to", "cc", "date", "subject", "reply-to", "content-type",
                         "content-transfer-encoding", "mime-version", "x-ndrtrack-inline"})


def _pasted(headers: str) -> str:
    """Trace headers pasted into the text (Received:, Message-ID:, …) for the synthetic message."""
    if not headers:
        return ""
    parsed = HeaderParser(policy=compat32).parsestr(headers + "\n\n")
    out = []
    for name, value in parsed.items():
        if name.lower() in _OWN_FIELDS:
            continue
        value = " ".join(str(value).split())
        out.append(f"{name}: {value if value.isascii() else Header(value, 'utf-8').encode()}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _ReportKind:
    """A machine-readable report part that an inline forward flattens into text."""

    report_type: str
    part_type: str
    field: re.Pattern[str]
    required: tuple[frozenset[str], ...]  # each set: at least one of these names must occur


ARF_FIELD = re.compile(
    r"^(?:Feedback-Type|User-Agent|Version|Original-Mail-From|Original-Rcpt-To|Arrival-Date|"
    r"Reporting-MTA|Source-IP|Incidents|Authentication-Results|Reported-Domain|Reported-URI|"
    r"Removal-Recipient|Original-Envelope-Id|Received-Date|Delivery-Result|DKIM-[\w-]{1,20}|"
    r"SPF-DNS|Identity-Alignment|Auth-Failure)[ \t]*:",
    re.IGNORECASE,
)
REPORT_KINDS = (
    _ReportKind("delivery-status", "message/delivery-status", DSN_FIELD,
                (frozenset({"final-recipient", "original-recipient"}), frozenset({"status"}))),
    _ReportKind("feedback-report", "message/feedback-report", ARF_FIELD,
                (frozenset({"feedback-type"}), frozenset({"user-agent", "version"}))),
)


def _split_report(body: str) -> tuple[_ReportKind, str, str, str] | None:
    """(kind, human text, report fields, returned headers) when the text still holds the
    fields of an RFC 3464 delivery status or an RFC 5965 feedback report."""
    lines = body.splitlines()
    for kind in REPORT_KINDS:
        idx = [i for i, line in enumerate(lines) if kind.field.match(line.strip())]
        names = {lines[i].split(":", 1)[0].strip().lower() for i in idx}
        if idx and all(names & need for need in kind.required):
            break
    else:
        return None
    start, end = idx[0], idx[-1] + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t") and lines[end].strip():
        end += 1  # folded Diagnostic-Code continuation
    fields = _dsn_groups(lines[start:end]) if kind.report_type == "delivery-status" else (
        "\n".join(line.rstrip() for line in lines[start:end] if line.strip()) + "\n")
    rest = lines[end:]
    hstart = next((i for i, line in enumerate(rest) if ORIGINAL_HEADER.match(line)), None)
    headers = "\n".join(rest[hstart:]).strip() if hstart is not None else ""
    return kind, "\n".join(lines[:start]).strip(), fields, headers


def _dsn_groups(lines: list[str]) -> str:
    """Per-message and per-recipient groups separated by one blank line each (RFC 3464)."""
    out: list[str] = []
    group: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        if line[:1] in (" ", "\t") and out:
            out.append(line.rstrip())
            continue
        name = line.split(":", 1)[0].strip().lower()
        if _starts_group(name, group):
            out.append("")
            group = set()
        group.add(name)
        out.append(line.strip())
    return "\n".join(out).strip() + "\n"


PER_MESSAGE_FIELDS = frozenset({
    "reporting-mta", "dsn-gateway", "received-from-mta", "arrival-date", "original-envelope-id",
    "x-postfix-queue-id", "x-postfix-sender",
})


def _starts_group(name: str, group: set[str]) -> bool:
    """A field that repeats opens the next group; so does the first recipient field after
    the per-message fields.  (Postfix writes Final- before Original-Recipient, RFC 3464 the
    other way round, so neither can be taken as "the first field of a group".)"""
    if not group:
        return False
    if name in group:
        return True
    return name in ("final-recipient", "original-recipient") and group <= PER_MESSAGE_FIELDS


def _report_body(kind: _ReportKind, text: str, fields: str, headers: str) -> str:
    """The three parts of RFC 6522 again: human text, report fields, returned headers."""
    parts = [
        f'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n{text}\n',
        f"Content-Type: {kind.part_type}\n\n{fields}",
    ]
    if headers:
        parts.append(f"Content-Type: text/rfc822-headers\n\n{headers}\n")
    return "".join(f"--{_BOUNDARY}\n{part}\n" for part in parts) + f"--{_BOUNDARY}--\n"
