"""RFC 3464 / RFC 6522 delivery status notifications (``multipart/report``).

A DSN is ``multipart/report; report-type=delivery-status`` with three parts: a human-readable
text, a ``message/delivery-status`` part, and the returned message (``message/rfc822``) or its
headers (``text/rfc822-headers``).  The machine-readable part is a block of per-message fields
(Reporting-MTA, Arrival-Date, X-Postfix-Queue-ID, …) followed by one block per recipient
(Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date, …), blocks
separated by blank lines, fields folded like mail headers.

Real DSNs bend this: the blank lines go missing (all fields in one block), the part is
labelled ``text/plain`` or base64-encoded, ``Final-Recipient`` lacks its ``rfc822;`` type,
``Status`` is the vague ``5.0.0`` while the diagnostic quotes the precise code.  So the
fields are read from the part's decoded text by this module's own tolerant reader, and a new
recipient block starts at every ``Final-Recipient`` / ``Original-Recipient`` pair whatever the
blank lines say.
"""

from __future__ import annotations

import re
from email.message import Message

from ndrtrack.model import Bounce, DeliveryStatus, MessageKind, OriginalMessage
from ndrtrack.parse.extract import (
    attached_original,
    clean_address,
    decoded_payload,
    evolve,
    first_reply,
    first_status,
    recall,
    remember,
    smtp_command,
    squeeze,
    text_parts,
    typed_parts,
)
from ndrtrack.parse.headers import parse_date, queue_id_for

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_FIELD_HINT = re.compile(r"^(?:final|original)-recipient[ \t]*:", re.I | re.M)


def _named(text: str, words: tuple[str, ...]) -> bool:
    """False when an ASCII ``text`` cannot match a re.I pattern that needs one of ``words``
    (lowercase): a line-anchored re.I scan costs 5 ns a character (50 us for a plain 10 KB
    body, the common case), lowercasing and a few substring tests a tenth of that.  Not
    used on other texts, where re.I also matches e.g. a dotless ı for i."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in words)


def _field_hint_in(text: str) -> bool:
    """Whether a Final-/Original-Recipient field starts a line of ``text``."""
    return _named(text, ("-recipient",)) and _FIELD_HINT.search(text) is not None
_ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
_RECIPIENT_KEYS = ("final-recipient", "original-recipient", "x-actual-recipient")
DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")


class _Blocks:
    """Field blocks being read: keys lowercased, folded values joined.

    A repeated field (``Final-Recipient`` above all) starts a new block even without a blank
    line between them; a blank line ends the block.
    """

    __slots__ = ("blocks", "current", "last")

    def __init__(self) -> None:
        self.blocks: list[dict[str, str]] = []
        self.current: dict[str, str] = {}
        self.last = ""

    def field(self, key: str, value: str) -> None:
        if key in self.current:
            self.blocks.append(self.current)
            self.current = {}
        self.current[key] = value
        self.last = key

    def fold(self, line: str) -> None:
        """A continuation line (ignored when no field precedes it in the block)."""
        if self.last:
            self.current[self.last] += " " + line.strip()

    def blank(self) -> None:
        if self.current:
            self.blocks.append(self.current)
        self.current, self.last = {}, ""

    def done(self) -> list[dict[str, str]]:
        self.blank()
        return _merge_lone_original(self.blocks)


def read_fields(text: str) -> list[dict[str, str]]:
    """Field blocks of a delivery-status text, keys lowercased, folded values joined.

    A repeated recipient field starts a new block even without a blank line; a block holding
    only a lone ``Original-Recipient`` stays with the ``Final-Recipient`` after it.
    """
    reader = _Blocks()
    _read_text(reader, text)
    return reader.done()


def _read_text(reader: _Blocks, text: str) -> None:
    for line in text.splitlines():
        if not line.strip():
            reader.blank()
        elif line[:1] in (" ", "\t"):
            reader.fold(line)
        else:
            match = _FIELD.match(line)
            if match:
                reader.field(match.group(1).lower(), match.group(2).strip())


def _merge_lone_original(blocks: list[dict[str, str]]) -> list[dict[str, str]]:
    merged: list[dict[str, str]] = []
    for block in blocks:
        if merged and set(merged[-1]) == {"original-recipient"} and "final-recipient" in block:
            merged[-1] = {**merged[-1], **block}
        else:
            merged.append(block)
    return merged


def status_text(part: Message) -> str:
    """The delivery-status part's fields as text, whether the parser split it or not."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n\n".join(_block_text(sub) for sub in payload if isinstance(sub, Message))
    return decoded_payload(part)


def _block_text(sub: Message) -> str:
    lines = [f"{k}: {v}" for k, v in sub.items()]
    body = sub.get_payload()
    if isinstance(body, str) and body.strip():
        lines.append(body)
    return "\n".join(lines)


# What str.splitlines() splits at: a value holding one is several lines of the text path.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def read_status_parts(parts: list[Message]) -> list[dict[str, str]]:
    """The field blocks of delivery-status parts: what :func:`read_fields` makes of their
    :func:`status_text`, read straight from the header blocks the MIME parser split the
    part into — no text is rebuilt and re-split for fields that are one plain line."""
    reader = _Blocks()
    for part in parts:
        reader.blank()  # parts are separate, as their texts joined by a blank line are
        payload = part.get_payload()
        if not isinstance(payload, list):
            _read_text(reader, decoded_payload(part))
            continue
        for sub in payload:
            if isinstance(sub, Message):
                reader.blank()
                _read_block(reader, sub)
    return reader.done()


def _read_block(reader: _Blocks, sub: Message) -> None:
    """One header block as :func:`_read_text` reads its :func:`_block_text`: a field that
    is one plain line goes to the reader directly, any other line by line."""
    for name, value in sub.items():
        value = str(value)
        if _LINE_BREAK.search(value) is None and _NAME.fullmatch(name):
            reader.field(name.lower(), value.strip())
            continue
        line = f"{name}: {value}"
        _read_text(reader, line)
        if line[-1] != "\r" and _LINE_BREAK.match(line, len(line) - 1):
            reader.blank()  # joined to the next line, its last line end makes an empty line
    raw = vars(sub).get("_payload")
    if isinstance(raw, str) and not raw.strip():
        return  # nearly always: get_payload() would give the same blank text, more dearly
    body = sub.get_payload()
    if isinstance(body, str) and body.strip():
        _read_text(reader, body)


def own_parts(msg: Message) -> list[Message]:
    """The message's own parts in order (see :func:`extract.typed_parts`)."""
    return [part for part, _ in typed_parts(msg)]


def find_status_parts(msg: Message) -> list[Message]:
    """Every delivery-status part (a forward of several reports has several), else a text part
    that carries DSN fields, else nothing.  Kept on the message."""
    cached = recall(msg, "status_parts")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    return remember(msg, "status_parts", _status_parts(msg))


def _status_parts(msg: Message) -> list[Message]:
    parts = typed_parts(msg)
    found = [part for part, ctype in parts if ctype in DSN_TYPES]
    if found:
        return found
    for part, ctype in parts:  # only now: a search of every text part costs
        if ctype == "text/plain" and not part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, str) and _field_hint_in(payload):
                return [part]
    return []


def find_status_part(msg: Message) -> Message | None:
    """The first delivery-status part (see :func:`find_status_parts`), or None."""
    parts = find_status_parts(msg)
    return parts[0] if parts else None


def _diagnostic(value: str) -> str:
    """``smtp; 550 5.1.1 ...`` → ``550 5.1.1 ...`` (the diagnostic-type is dropped)."""
    value = squeeze(value)
    head, sep, rest = value.partition(";")
    if sep and head.strip().lower() in (
        "smtp",
        "x-unix",
        "x-postfix",
        "x-local",
        "x-notes",
        "x-exchange",
        "x-ses",
    ):
        return rest.strip()
    if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,20}", head.strip()):
        return rest.strip()
    return value


def _mta(value: str) -> str:
    """``dns; mx.example.org [192.0.2.1]`` → ``mx.example.org``."""
    value = value.split(";", 1)[-1].strip()
    return value.split()[0].strip("[]<>").lower() if value else ""


def _status(field_value: str, diagnostic: str, action: str = "") -> str:
    """The Status field, made precise by the code the remote quoted in the diagnostic: a
    more detailed one of the same class, or a permanent 5.x.x where the report says the
    delivery failed but labels it with a transient 4.x.x (the remote's answer decides)."""
    status = first_status(field_value)
    quoted = first_status(diagnostic)
    if not status:
        return quoted
    if quoted and quoted != status and quoted[0] == status[0] and not quoted.endswith(".0.0"):
        return quoted
    if quoted[:1] == "5" and status[:1] == "4" and action == "failed":
        return quoted
    return status


def recipient_status(block: dict[str, str], reporting_mta: str) -> DeliveryStatus | None:
    """One per-recipient block → :class:`DeliveryStatus` (None when it names nobody)."""
    recipient = ""
    for key in _RECIPIENT_KEYS:
        recipient = clean_address(block.get(key, ""))
        if recipient:
            break
    if not recipient:
        return None
    raw_diagnostic = block.get("diagnostic-code", "")
    diagnostic = _diagnostic(raw_diagnostic)
    kind = raw_diagnostic.partition(";")[0].strip().lower() if ";" in raw_diagnostic else "smtp"
    if kind == "x-unix" and diagnostic:
        # An X-Unix diagnostic is a local delivery program's exit status ("X-Unix; 75"): the
        # bare number means nothing without its type, which says a mailer program failed.
        diagnostic = f"X-Unix; {diagnostic}"
    action = block.get("action", "").strip().lower().split()[0:1]
    status = _status(block.get("status", ""), diagnostic, action[0] if action else "")
    action_word = action[0] if action and action[0] in _ACTIONS else ""
    if not action_word:
        action_word = {"2": "delivered", "4": "delayed"}.get(status[:1], "failed")
    return DeliveryStatus(
        recipient=recipient,
        action=action_word,
        status=status,
        reply_code="" if kind == "x-unix" else first_reply(diagnostic),  # X-Unix: exit codes
        diagnostic=diagnostic,
        remote_mta=_mta(block.get("remote-mta", "")),
        reporting_mta=reporting_mta,
        last_attempt=parse_date(block.get("last-attempt-date")),
        smtp_command=smtp_command(diagnostic),
    )


def kind_of(statuses: tuple[DeliveryStatus, ...]) -> MessageKind:
    """Failed wins over delayed wins over delivered/relayed/expanded."""
    actions = {s.action for s in statuses}
    if "failed" in actions:
        return MessageKind.BOUNCE
    if "delayed" in actions:
        return MessageKind.DELAYED
    if actions:
        return MessageKind.DELIVERED
    return MessageKind.NOT_A_BOUNCE


def parse_fields_text(text: str, *, format_name: str = "rfc3464") -> Bounce | None:
    """Read DSN fields from text into a Bounce (None when no recipient block is found)."""
    return bounce_of_fields(read_fields(text), format_name=format_name)


def bounce_of_fields(
    blocks: list[dict[str, str]], *, format_name: str = "rfc3464"
) -> Bounce | None:
    """Field blocks (see :func:`read_fields`) into a Bounce (None without a recipient)."""
    per_message: dict[str, str] = {}
    recipients: list[dict[str, str]] = []
    for block in blocks:
        if block.keys().isdisjoint(_RECIPIENT_KEYS):
            for key, value in block.items():
                per_message.setdefault(key, value)  # the first block that gives it wins
        else:
            recipients.append(block)
    reporting = _mta(per_message.get("reporting-mta", ""))
    found = (recipient_status(block, reporting) for block in recipients)
    statuses = tuple(status for status in found if status is not None)
    if not statuses:
        return None
    return Bounce(
        format=format_name,
        reporting_mta=reporting,
        arrived_at=parse_date(per_message.get("arrival-date")),
        queue_id=per_message.get("x-postfix-queue-id", "").strip(),
        statuses=statuses,
        kind=kind_of(statuses),
    )


_SENT = re.compile(r"^>>> ?(RCPT TO|MAIL FROM|DATA|EHLO|HELO|STARTTLS|QUIT)\b", re.I | re.M)
_ERROR_REPLY = re.compile(r"^<<< ?[45]\d\d", re.M)
_TRANSCRIPT_NAMES = {
    "rcpt to": "RCPT",
    "mail from": "MAIL",
    "data": "DATA",
    "ehlo": "EHLO",
    "helo": "HELO",
    "starttls": "STARTTLS",
    "quit": "",
}


def transcript_command(msg: Message) -> str:
    """The command a Sendmail-style session transcript (``>>> DATA`` / ``<<< 550 ...``) failed at.

    A pipelined ``QUIT`` says nothing about which command failed.
    """
    for text in text_parts(msg, html=False)[:1]:
        # "<<<" first: a line-anchored regex tries every line start of the whole text
        error = _ERROR_REPLY.search(text) if "<<<" in text else None
        if error is None:
            return ""
        sent = list(_SENT.finditer(text, 0, error.start()))
        if sent:
            return _TRANSCRIPT_NAMES[sent[-1].group(1).lower()]
    return ""


def human_commands(msg: Message, recipients: list[str]) -> dict[str, str]:
    """recipient → the SMTP command the human-readable part says its failure answered.

    The machine-readable Diagnostic-Code carries only the reply, but the text part written
    beside it by Postfix ("... (in reply to end of DATA command)"), Exim ("SMTP error from
    remote mail server after RCPT TO:<...>") and their kin names the command, per recipient:
    the text between a recipient's address and the next recipient's is that recipient's.
    """
    texts = text_parts(msg, html=False)[:1]
    if not texts or not recipients:
        return {}
    text = texts[0]
    lowered = text.lower()
    starts = sorted((lowered.find(r), r) for r in recipients if r and r in lowered)
    found: dict[str, str] = {}
    for index, (start, recipient) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else start + 1500
        command = smtp_command(text[start:end])
        if command:
            found[recipient] = command
    return found


def with_commands(msg: Message, statuses: tuple[DeliveryStatus, ...]) -> tuple[DeliveryStatus, ...]:
    """``statuses`` with the failing SMTP command filled in where the diagnostic lacked it:
    from the recipient's own paragraph of the human-readable part, else from a Sendmail
    session transcript."""
    missing = [s.recipient.lower() for s in statuses if not s.smtp_command]
    if not missing:
        return statuses
    commands = human_commands(msg, missing)
    transcript = transcript_command(msg)
    return tuple(
        s
        if s.smtp_command
        else evolve(s, smtp_command=commands.get(s.recipient.lower(), transcript))
        for s in statuses
    )


_DSN_FIELD_NAMES = frozenset(
    {
        "reporting-mta",
        "dsn-gateway",
        "received-from-mta",
        "arrival-date",
        "original-envelope-id",
        "final-recipient",
        "original-recipient",
        "action",
        "status",
        "remote-mta",
        "diagnostic-code",
        "last-attempt-date",
        "will-retry-until",
        "final-log-id",
    }
)
_FIRST_FIELD = re.compile(
    r"^(?:Reporting-MTA|Original-Envelope-Id|Final-Recipient|Arrival-Date)\s*:", re.I | re.M
)
_FIRST_FIELD_NAMES = ("reporting-mta", "original-envelope-id", "final-recipient", "arrival-date")


def embedded_fields(text: str) -> str:
    """DSN fields quoted inside a text (a report whose MIME structure broke), or "".

    The region starts at the first DSN field and ends at the first line that is neither a DSN
    field (``X-`` extensions included), a continuation, nor blank.
    """
    start = _FIRST_FIELD.search(text) if _named(text, _FIRST_FIELD_NAMES) else None
    if start is None:
        return ""
    kept: list[str] = []
    for line in text[start.start() :].splitlines():
        match = _FIELD.match(line)
        if not line.strip() or (line[:1] in (" ", "\t") and kept):
            kept.append(line)
        elif match and (
            match.group(1).lower() in _DSN_FIELD_NAMES or match.group(1).lower().startswith("x-")
        ):
            kept.append(line)
        else:
            break
    return "\n".join(kept)


_WORDS = re.compile(r"[A-Za-z]{3,}")
_TRANSCRIPT_MARK = re.compile(r"Transcript of session follows", re.I)


def human_text(msg: Message) -> str:
    """The report's human-readable part, squeezed: the only explanation when the
    Diagnostic-Code is missing (Gmail's "Address not found", Exchange's friendly text)."""
    for part, ctype in typed_parts(msg):
        if ctype == "text/plain" and not part.is_multipart():
            text = squeeze(decoded_payload(part))
            if _TRANSCRIPT_MARK.search(text):
                return ""  # the format reads its transcript itself, line by line
            if not _field_hint_in(text):
                return text[:1500]
    return ""


def parse_report(msg: Message, *, format_name: str = "rfc3464") -> Bounce | None:
    """Decode a DSN message: fields, recipients, returned original, queue id."""
    parts = find_status_parts(msg)
    if parts:
        blocks = read_status_parts(parts)
    else:
        blocks = read_fields(embedded_fields("\n".join(text_parts(msg, html=False))))
    bounce = bounce_of_fields(blocks, format_name=format_name)
    if bounce is None:
        return None
    original = attached_original(msg) or OriginalMessage()
    queue_id = bounce.queue_id or queue_id_for(original, bounce.reporting_mta)
    statuses = with_commands(msg, bounce.statuses)
    if any(not _WORDS.search(s.diagnostic) for s in statuses):
        human = human_text(msg)
        statuses = tuple(
            s if _WORDS.search(s.diagnostic) else evolve(s, diagnostic=human) for s in statuses
        )
    return Bounce(
        format=bounce.format,
        reporting_mta=bounce.reporting_mta,
        arrived_at=bounce.arrived_at,
        queue_id=queue_id,
        original=original,
        statuses=statuses,
        kind=bounce.kind,
    )
