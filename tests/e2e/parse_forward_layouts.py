"""Forward a message the way mail clients do (helper for the forwarded-DSN end-to-end tests).

Each layout takes the raw bytes of an NDR and returns the bytes of the forward a person would
send us: attached (``message/rfc822`` plain or base64, ``.eml`` as octet-stream) or inline,
where the client renders the readable parts into text under its own header block.  The header
blocks follow the clients' real layouts (see tests/samples/forwards for real examples).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

FORWARDER = "Alice Example <alice@corp.example>"
ENVELOPE = (f"From: {FORWARDER}\nTo: ndrtrack@corp.example\nDate: Sat, 28 Nov 2026 09:00:00 +0100\n"
            "Message-ID: <fwd-1@corp.example>\nMIME-Version: 1.0\n")


def _parse(raw: bytes) -> Message:
    return BytesParser(policy=compat32).parsebytes(raw)


def _multipart(subject: str, note: str, attachment_headers: str, payload: str) -> bytes:
    return (f"{ENVELOPE}Subject: {subject}\n"
            "Content-Type: multipart/mixed; boundary=\"fwd-boundary\"\n\n"
            "--fwd-boundary\nContent-Type: text/plain; charset=utf-8\n\n"
            f"{note}\n\n--fwd-boundary\n{attachment_headers}\n\n{payload}\n"
            "--fwd-boundary--\n").encode("utf-8", "surrogateescape")


def attached_rfc822(ndr: bytes) -> bytes:
    text = ndr.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
    return _multipart("Fwd: bounce", "Why did this bounce?",
                      "Content-Type: message/rfc822\nContent-Disposition: attachment", text)


def attached_rfc822_base64(ndr: bytes) -> bytes:
    return _multipart("FW: bounce", "See attached.",
                      "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
                      base64.encodebytes(ndr).decode())


def eml_octet_stream(ndr: bytes) -> bytes:
    return _multipart("Fwd: bounce", "Attached the bounce.",
                      "Content-Type: application/octet-stream; name=\"bounce.eml\"\n"
                      "Content-Transfer-Encoding: base64\n"
                      "Content-Disposition: attachment; filename=\"bounce.eml\"",
                      base64.encodebytes(ndr).decode())


def _tnef_object(level: int, attr: int, kind: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id, type, length, data, 16-bit byte-sum checksum."""
    return (struct.pack("<BHHI", level, attr, kind, len(data)) + data
            + struct.pack("<H", sum(data) & 0xFFFF))


def winmail_dat(ndr: bytes) -> bytes:
    """A minimal Outlook TNEF stream carrying the NDR as an ``.eml`` file attachment
    (MS-OXTNEF: signature, key, message attributes, then per attachment the rendering
    data that opens it, its title and its data)."""
    message, attachment = 0x01, 0x02
    return b"".join([
        struct.pack("<IH", 0x223E9F78, 0x0001),
        _tnef_object(message, 0x9006, 0x0008, struct.pack("<I", 0x00010000)),  # version
        _tnef_object(message, 0x9007, 0x0006, struct.pack("<II", 1252, 0)),  # OEM codepage
        _tnef_object(message, 0x8004, 0x0001, b"FW: bounce\0"),  # subject
        _tnef_object(attachment, 0x9002, 0x0002, struct.pack("<HIIHH", 1, 0xFFFFFFFF, 0, 0, 0)),
        _tnef_object(attachment, 0x8010, 0x0001, b"bounce.eml\0"),  # title
        _tnef_object(attachment, 0x800F, 0x0006, ndr),  # data
    ])


def tnef_attachment(ndr: bytes) -> bytes:
    return _multipart("FW: bounce", "Forwarded from Outlook.",
                      "Content-Type: application/ms-tnef; name=\"winmail.dat\"\n"
                      "Content-Transfer-Encoding: base64\n"
                      "Content-Disposition: attachment; filename=\"winmail.dat\"",
                      base64.encodebytes(winmail_dat(ndr)).decode())


def nested_rfc822(ndr: bytes) -> bytes:
    """A forward of a forward: the NDR two attachment layers deep."""
    return attached_rfc822(attached_rfc822(ndr))


def rendered_text(ndr: bytes) -> str:
    """What a client shows of an NDR: its text parts, the status part and returned headers."""
    msg = _parse(ndr)
    chunks: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/rfc822-headers"):
            data = part.get_payload(decode=True) or b""
            chunks.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
        elif ctype in ("message/delivery-status", "message/feedback-report"):
            blocks = part.get_payload()
            chunks.append("\n".join(b.as_string() for b in blocks) if isinstance(blocks, list)
                          else str(blocks))
        elif ctype == "message/rfc822":
            inner = part.get_payload(0)
            chunks.append("".join(f"{k}: {v}\n" for k, v in inner.items()))
    return "\n\n".join(c.strip("\n") for c in chunks)


def _field(msg: Message, name: str) -> str:
    return " ".join(str(msg.get(name, "")).split())


def _inline(block: Callable[[Message], str], subject_prefix: str, quote: bool = False
            ) -> Callable[[bytes], bytes]:
    def layout(ndr: bytes) -> bytes:
        msg = _parse(ndr)
        text = block(msg) + rendered_text(ndr)
        if quote:
            text = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
        body = f"Can you check why this failed?\n\n{text}\n"
        subject = f"{subject_prefix} {_field(msg, 'Subject')}"
        return (f"{ENVELOPE}Subject: {subject}\nContent-Type: text/plain; charset=utf-8\n"
                f"Content-Transfer-Encoding: 8bit\n\n{body}").encode()
    return layout


def _outlook(msg: Message) -> str:
    return ("________________________________\n"
            f"From: {_field(msg, 'From')}\nSent: Saturday, November 28, 2026 1:21 AM\n"
            f"To: {_field(msg, 'To')}\nSubject: {_field(msg, 'Subject')}\n\n")


def _outlook_de(msg: Message) -> str:
    return ("-----Ursprüngliche Nachricht-----\n"
            f"Von: {_field(msg, 'From')}\nGesendet: Samstag, 28. November 2026 01:21\n"
            f"An: {_field(msg, 'To')}\nBetreff: {_field(msg, 'Subject')}\n\n")


def _gmail(msg: Message) -> str:
    return ("---------- Forwarded message ---------\n"
            f"From: {_field(msg, 'From')}\nDate: Sat, Nov 28, 2026 at 1:21 AM\n"
            f"Subject: {_field(msg, 'Subject')}\nTo: <{_field(msg, 'To')}>\n\n\n")


def _thunderbird(msg: Message) -> str:
    return ("-------- Forwarded Message --------\n"
            f"Subject: \t{_field(msg, 'Subject')}\nDate: \t{_field(msg, 'Date')}\n"
            f"From: \t{_field(msg, 'From')}\nTo: \t{_field(msg, 'To')}\n\n\n\n")


def _apple(msg: Message) -> str:
    return ("Begin forwarded message:\n\n"
            f"From: {_field(msg, 'From')}\nSubject: {_field(msg, 'Subject')}\n"
            f"Date: 28 November 2026 at 01:21:00 CET\nTo: {_field(msg, 'To')}\n\n")


def _pasted(msg: Message) -> str:
    """A person copies only the NDR's text under a forward marker: no header block at all."""
    return "-------- Forwarded Message --------\n\n"


LAYOUTS: dict[str, Callable[[bytes], bytes]] = {
    "rfc822": attached_rfc822,
    "rfc822-base64": attached_rfc822_base64,
    "eml-octet-stream": eml_octet_stream,
    "rfc822-nested": nested_rfc822,
    "tnef-winmail-dat": tnef_attachment,
    "inline-outlook": _inline(_outlook, "FW:"),
    "inline-outlook-de": _inline(_outlook_de, "WG:"),
    "inline-gmail": _inline(_gmail, "Fwd:"),
    "inline-thunderbird": _inline(_thunderbird, "Fwd:"),
    "inline-apple": _inline(_apple, "Fwd:", quote=True),
    "inline-pasted-text": _inline(_pasted, "Fwd:"),
}
