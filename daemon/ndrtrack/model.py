"""Core records passed between the stages of ndrtrack.

Every arrow in the data flow (intake → parse → track → report, logs → store) is a plain
function call on these immutable records, so the pure stages can be tested without any
server.  This module imports nothing of the package.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Reason(enum.StrEnum):
    """Why a message was not delivered (the design's reason names)."""

    USERUNKNOWN = "userunknown"
    HOSTUNKNOWN = "hostunknown"
    MAILBOXFULL = "mailboxfull"
    MESGTOOBIG = "mesgtoobig"
    EXCEEDLIMIT = "exceedlimit"
    NORELAYING = "norelaying"
    NOTACCEPT = "notaccept"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    SPAMDETECTED = "spamdetected"
    VIRUSDETECTED = "virusdetected"
    POLICYVIOLATION = "policyviolation"
    SECURITYERROR = "securityerror"
    AUTHFAILURE = "authfailure"
    BADREPUTATION = "badreputation"
    REQUIREPTR = "requireptr"
    FAILEDSTARTTLS = "failedstarttls"
    NOTCOMPLIANTRFC = "notcompliantrfc"
    CONTENTERROR = "contenterror"
    FILTERED = "filtered"
    SUSPEND = "suspend"
    HASMOVED = "hasmoved"
    TOOMANYCONN = "toomanyconn"
    SPEEDING = "speeding"
    SYSTEMERROR = "systemerror"
    SYSTEMFULL = "systemfull"
    MAILERERROR = "mailererror"
    NETWORKERROR = "networkerror"
    SYNTAXERROR = "syntaxerror"
    EXPIRED = "expired"
    ONHOLD = "onhold"
    SUPPRESSED = "suppressed"
    UNDEFINED = "undefined"
    # kinds that are not failures
    DELIVERED = "delivered"
    FEEDBACK = "feedback"
    VACATION = "vacation"


class MessageKind(enum.StrEnum):
    """What a parsed message turned out to be."""

    BOUNCE = "bounce"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    FEEDBACK = "feedback"
    AUTOREPLY = "autoreply"
    RESENT = "resent"  # a re-sent/forwarded original, no NDR inside
    NOT_A_BOUNCE = "not_a_bounce"


class Actor(enum.StrEnum):
    """Who must act next on a finding or an explanation."""

    SENDER = "sender"
    SENDER_POSTMASTER = "sender_postmaster"
    RECIPIENT = "recipient"
    RECIPIENT_POSTMASTER = "recipient_postmaster"
    US = "us"
    NOBODY = "nobody"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One durably stored intake message (``path`` is the .eml; a .json sidecar sits beside)."""

    id: str
    received_at: datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str
    path: str
    helo: str = ""
    source: str = "smtp"  # smtp | lmtp | maildir | imap
    tls: bool = False


@dataclass(frozen=True, slots=True)
class Hop:
    """One ``Received:`` header, parsed."""

    from_host: str = ""
    from_helo: str = ""
    from_ip: str = ""
    by_host: str = ""
    protocol: str = ""
    queue_id: str = ""
    tls: bool = False
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OriginalMessage:
    """What an NDR (or a re-sent copy) tells about the message that went missing."""

    message_id: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    received: tuple[Hop, ...] = ()
    from_header: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One bounced (or delayed/delivered) recipient of an NDR."""

    recipient: str
    action: str = "failed"
    status: str = ""
    reply_code: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    reporting_mta: str = ""
    last_attempt: datetime | None = None
    smtp_command: str = ""
    reason: str = ""
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Bounce:
    """A decoded NDR: one format's reading of one message."""

    format: str
    reporting_mta: str = ""
    arrived_at: datetime | None = None
    queue_id: str = ""
    original: OriginalMessage = field(default_factory=OriginalMessage)
    statuses: tuple[DeliveryStatus, ...] = ()
    kind: MessageKind = MessageKind.BOUNCE
    errors: tuple[str, ...] = ()  # parse problems recorded instead of raised


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One understood mail-log line."""

    at: datetime
    host: str
    mta: str
    program: str
    queue_id: str = ""
    kind: str = ""
    message_id: str = ""
    sender: str = ""
    recipient: str = ""
    client_ip: str = ""
    client_host: str = ""
    relay: str = ""
    status: str = ""
    dsn: str = ""
    reply: str = ""
    text: str = ""
    source: str = ""
    # added for the log index: joins across lines and hops
    orig_recipient: str = ""
    helo: str = ""
    related_id: str = ""  # the other queue id this line names (next hop, bounce, MTA)
    session_id: str = ""  # a filter's session id (smtpf SID), quoted in its replies


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    """What finally happened to one recipient of a traced message."""

    recipient: str
    status: str = ""
    dsn: str = ""
    relay: str = ""
    reply: str = ""
    at: datetime | None = None
    orig_recipient: str = ""


@dataclass(frozen=True, slots=True)
class MessageTrace:
    """The lines of one message on one host, joined."""

    host: str
    queue_ids: tuple[str, ...]
    message_id: str = ""
    sender: str = ""
    recipients: tuple[RecipientOutcome, ...] = ()
    client: str = ""
    client_ip: str = ""
    events: tuple[LogEvent, ...] = ()
    outcome: str = ""
    first_at: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """What one step of the tracking process saw, with its evidence."""

    step: str
    outcome: str
    summary: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The tracking process's answer."""

    outcome: str
    responsible: Actor
    explanation: str
    next_actions: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


def to_jsonable(value: Any) -> Any:
    """Turn records (and containers of them) into JSON-ready values; datetimes → ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value
