"""Outlook containers: TNEF (``winmail.dat``) and ``.msg`` files, turned into messages.

Both carry a message as MAPI properties rather than as RFC 5322 text.  The properties that
matter for tracking are the same in both (MS-OXPROPS):

- ``0x007D`` PR_TRANSPORT_MESSAGE_HEADERS — the original headers, ``Received:`` chain included;
- ``0x0037`` subject, ``0x0C1F``/``0x5D01`` sender address, ``0x0C1A`` sender name,
  ``0x0E04`` display-to, ``0x0039`` submit time, ``0x1035`` Message-ID;
- ``0x1000`` plain body, ``0x1013`` HTML body;
- attachments: ``0x3705`` method (5 = embedded message), ``0x3701`` data, ``0x3707`` name.

TNEF is decoded with ``tnefparse``; ``.msg`` is an OLE2 compound file read with ``olefile``
(streams ``__substg1.0_<tag>``, fixed-size values in ``__properties_version1.0``).  Each
container yields a message rebuilt from its properties (so an inline forward in its body is
found as the next layer) plus every ``.eml`` or embedded message among its attachments.
"""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from email.utils import format_datetime
from typing import Any

PR_SUBJECT = 0x0037
PR_SUBMIT_TIME = 0x0039
PR_TRANSPORT_HEADERS = 0x007D
PR_SENDER_NAME = 0x0C1A
PR_SENDER_EMAIL = 0x0C1F
PR_SENDER_SMTP = 0x5D01
PR_DISPLAY_TO = 0x0E04
PR_BODY = 0x1000
PR_HTML = 0x1013
PR_MESSAGE_ID = 0x1035
PR_ATTACH_DATA = 0x3701
PR_ATTACH_FILENAME = 0x3707
PR_ATTACH_METHOD = 0x3705
ATTACH_EMBEDDED_MSG = 5
MAX_NESTING = 8
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TNEF_MAGIC = b"\x78\x9f\x3e\x22"


def message_from_props(props: dict[int, object], depth: int = 0) -> Message | None:
    """A compat32 message built from MAPI properties; ``None`` when they say nothing."""
    headers = _text(props.get(PR_TRANSPORT_HEADERS))
    msg = HeaderParser(policy=compat32).parsestr(headers.strip() + "\n\n") if headers else Message()
    _fill(msg, "Subject", _text(props.get(PR_SUBJECT)))
    sender = _text(props.get(PR_SENDER_SMTP)) or _text(props.get(PR_SENDER_EMAIL))
    name = _text(props.get(PR_SENDER_NAME))
    if sender and "@" in sender:
        _fill(msg, "From", f"{name} <{sender}>" if name and name != sender else sender)
    _fill(msg, "To", _text(props.get(PR_DISPLAY_TO)))
    _fill(msg, "Message-ID", _text(props.get(PR_MESSAGE_ID)))
    when = props.get(PR_SUBMIT_TIME)
    if isinstance(when, datetime) and 1970 < when.year < 4000:
        _fill(msg, "Date", format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC)))
    body = _text(props.get(PR_BODY))
    html = _text(props.get(PR_HTML))
    if not body and not html and len(msg) == 0:
        return None
    for name in ("Content-Type", "Content-Transfer-Encoding", "MIME-Version"):
        del msg[name]
    msg.set_payload(body or html, "utf-8")
    if html and not body:
        msg.set_type("text/html")
    return BytesParser(policy=compat32).parsebytes(msg.as_bytes())


def _fill(msg: Message, name: str, value: str) -> None:
    value = " ".join(value.split())
    if value and msg.get(name) is None:
        msg[name] = value if value.isascii() else Header(value, "utf-8").encode()


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes):
        for charset in ("utf-8", "cp1252"):
            try:
                return value.decode(charset).replace("\x00", "")
            except UnicodeDecodeError:
                continue
    if isinstance(value, list) and value:
        return _text(value[0])
    return ""


def _looks_like_message(data: bytes) -> bool:
    head = data.lstrip()[:200]
    first = head.split(b"\n", 1)[0]
    return b":" in first and first.split(b":", 1)[0].replace(b"-", b"").isalnum()


# --- TNEF ---------------------------------------------------------------------------------

def tnef_messages(data: bytes, errors: list[str], depth: int = 0) -> list[Message]:
    """The TNEF body as a message, then its ``.eml`` and embedded-message attachments."""
    if not data or depth > MAX_NESTING:
        return []
    try:
        from tnefparse import TNEF

        tnef = TNEF(data)
    except Exception as exc:  # noqa: BLE001 - tnefparse raises many kinds on bad input
        errors.append(f"tnef: {type(exc).__name__}: {exc}")
        return []
    props: dict[int, object] = {a.name: a.data for a in getattr(tnef, "mapiprops", [])}
    if tnef.body and PR_BODY not in props:
        props[PR_BODY] = tnef.body
    if getattr(tnef, "htmlbody", None) and PR_HTML not in props:
        props[PR_HTML] = tnef.htmlbody
    for attr in getattr(tnef, "msgprops", []):
        if attr.name == TNEF.ATTSUBJECT and PR_SUBJECT not in props:
            props[PR_SUBJECT] = attr.data
    found = [m for m in [message_from_props(props)] if m is not None]
    for att in tnef.attachments:
        found.extend(_tnef_attachment(att, errors, depth))
    return found


def _tnef_attachment(att: object, errors: list[str], depth: int) -> list[Message]:
    props = {a.name: a.data for a in getattr(att, "mapi_attrs", [])}
    payload = getattr(att, "data", b"") or b""
    name = _text(props.get(PR_ATTACH_FILENAME)) or str(getattr(att, "name", ""))
    if props.get(PR_ATTACH_METHOD) == ATTACH_EMBEDDED_MSG:
        inner = payload[16:] if payload[16:20] == TNEF_MAGIC else payload
        return tnef_messages(inner, errors, depth + 1)
    if name.lower().endswith(".eml") or (payload and _looks_like_message(payload[:512])):
        return [BytesParser(policy=compat32).parsebytes(payload)]
    if name.lower().endswith(".msg") or payload[:8] == OLE_MAGIC:
        return msg_messages(payload, errors, depth + 1)
    return []


# --- .msg (OLE2) --------------------------------------------------------------------------

def msg_messages(data: bytes, errors: list[str], depth: int = 0) -> list[Message]:
    """The ``.msg`` message itself, then the messages attached to it (recursively)."""
    if not data.startswith(OLE_MAGIC) or depth > MAX_NESTING:
        return []
    try:
        import olefile

        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return _msg_storage(ole, [], errors, 0)
    except Exception as exc:  # noqa: BLE001 - corrupt compound files raise many kinds
        errors.append(f"msg: {type(exc).__name__}: {exc}")
        return []


def _msg_storage(ole: Any, prefix: list[str], errors: list[str], depth: int) -> list[Message]:
    props = _msg_props(ole, prefix, header=32 if not prefix else 24)
    found = [m for m in [message_from_props(props)] if m is not None]
    if depth >= MAX_NESTING:
        return found
    attachments = sorted({entry[len(prefix)] for entry in ole.listdir(storages=True)
                          if len(entry) > len(prefix) and entry[:len(prefix)] == prefix
                          and entry[len(prefix)].startswith("__attach_version1.0_")})
    for att in attachments:
        path = [*prefix, att]
        if ole.exists("/".join([*path, "__substg1.0_3701000D"])):
            found.extend(_msg_storage(ole, [*path, "__substg1.0_3701000D"], errors, depth + 1))
            continue
        stream = "/".join([*path, "__substg1.0_37010102"])
        if ole.exists(stream):
            payload = ole.openstream(stream).read()
            att_props = _msg_props(ole, path, header=8)
            name = _text(att_props.get(PR_ATTACH_FILENAME))
            if name.lower().endswith(".eml") or _looks_like_message(payload[:512]):
                found.append(BytesParser(policy=compat32).parsebytes(payload))
    return found


def _msg_props(ole: Any, prefix: list[str], header: int) -> dict[int, object]:
    """Variable-size properties from ``__substg1.0_*`` streams, times from the props stream."""
    props: dict[int, object] = {}
    for entry in ole.listdir(streams=True, storages=False):
        if len(entry) != len(prefix) + 1 or entry[:len(prefix)] != prefix:
            continue
        name = entry[-1]
        if not name.startswith("__substg1.0_") or len(name) != 20:
            continue
        tag, kind = int(name[12:16], 16), name[16:20]
        raw = ole.openstream("/".join(entry)).read()
        if kind == "001F":
            props[tag] = raw.decode("utf-16-le", "replace")
        elif kind == "001E":
            props[tag] = raw
        elif kind == "0102" and tag != PR_ATTACH_DATA:
            props[tag] = raw
    fixed = "/".join([*prefix, "__properties_version1.0"])
    if ole.exists(fixed):
        props.update(_fixed_props(ole.openstream(fixed).read(), header))
    return props


def _fixed_props(raw: bytes, header: int) -> dict[int, object]:
    out: dict[int, object] = {}
    for off in range(header, len(raw) - 15, 16):
        ptype, pid, _flags, value = struct.unpack_from("<HHIQ", raw, off)
        if ptype == 0x0040 and value:
            out[pid] = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=value // 10)
        elif ptype == 0x0003:
            out[pid] = value & 0xFFFFFFFF
    return out
