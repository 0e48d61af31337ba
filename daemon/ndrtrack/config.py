"""Typed configuration: YAML loaded into frozen dataclasses, every problem reported at once.

The dataclasses below *are* the schema: field types drive the checks, field defaults are the
defaults, and ``meta(...)`` adds a check or marks a secret.  A mistake never surfaces late
as a KeyError: ``load_config`` collects every problem as ``FILE: key.path: reason`` and
raises one ``ConfigError`` (the CLI prints the lines and exits 2).

Secrets (the IMAP ``password``) may instead be given as ``<key>_file: PATH``; the file's
content (stripped) is used, so the YAML itself can be world-readable.  The TLS key is always
a file (``tls_key_file``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ndrtrack.errors import ConfigError

Check = Callable[[Any], str | None]  # returns a reason when the value is bad


def meta(*, check: Check | None = None, secret: bool = False, doc: str = "") -> dict[str, Any]:
    return {"check": check, "secret": secret, "doc": doc}


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "expected a port number 0..65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "expected a number greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "expected a number of 0 or more"


def _ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"not an IP address: {value!r}"
    return None


def _network(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"not an IP network: {value!r}"
    return None


def _address(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or " " in value:
        return f"not an email address: {value!r}"
    return None


def _existing_file(value: str) -> str | None:
    if not value:
        return None
    return None if os.path.isfile(value) else f"file not found: {value}"


def _each(check: Check) -> Check:
    def run(values: tuple[Any, ...]) -> str | None:
        for value in values:
            reason = check(value)
            if reason:
                return reason
        return None

    return run


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """An SMTP or LMTP listener."""

    enabled: bool = True
    host: str = field(default="127.0.0.1", metadata=meta(check=_ip))
    port: int = field(default=2525, metadata=meta(check=_port))
    hostname: str = ""  # name in the greeting; default: the machine's FQDN
    max_message_size: int = field(default=25 * 1024 * 1024, metadata=meta(check=_positive))
    max_connections: int = field(default=100, metadata=meta(check=_positive))
    max_connections_per_client: int = field(default=10, metadata=meta(check=_positive))
    idle_timeout: float = field(default=300.0, metadata=meta(check=_positive))
    # PEM files for STARTTLS; the key file can be mode 0600, apart from the YAML.
    tls_cert_file: str = field(default="", metadata=meta(check=_existing_file))
    tls_key_file: str = field(default="", metadata=meta(check=_existing_file))


@dataclass(frozen=True, slots=True)
class MaildirSource:
    path: str
    after: Literal["move", "delete"] = "move"  # move: into the Maildir's .Processed folder


@dataclass(frozen=True, slots=True)
class ImapSource:
    host: str
    username: str
    password: str = field(default="", metadata=meta(secret=True))
    port: int = field(default=993, metadata=meta(check=_port))
    security: Literal["tls", "starttls"] = "tls"
    folder: str = "INBOX"
    after: Literal["flag", "move", "delete"] = "move"
    move_to: str = "ndrtrack-processed"
    cafile: str = field(default="", metadata=meta(check=_existing_file))
    verify: bool = True
    poll_interval: float = field(default=60.0, metadata=meta(check=_positive))


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    addresses: tuple[str, ...] = field(
        default=("ndr-track@localhost.localdomain",), metadata=meta(check=_each(_address))
    )
    smtp: ListenerConfig = field(default_factory=ListenerConfig)
    lmtp: ListenerConfig = field(default_factory=lambda: ListenerConfig(enabled=False, port=2424))
    maildirs: tuple[MaildirSource, ...] = ()
    imap: tuple[ImapSource, ...] = ()
    maildir_poll_interval: float = field(default=5.0, metadata=meta(check=_positive))


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    path: str = "var/spool"
    # done/ entries older than this (by completion time) are deleted; 0 keeps them forever.
    # shunt/ is never purged: an admin has to look at what failed.
    done_retention_days: int = field(default=30, metadata=meta(check=_non_negative))


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    max_tries: int = field(default=5, metadata=meta(check=_positive))
    backoff_initial: float = field(default=2.0, metadata=meta(check=_positive))
    backoff_max: float = field(default=300.0, metadata=meta(check=_positive))
    poll_interval: float = field(default=1.0, metadata=meta(check=_positive))


@dataclass(frozen=True, slots=True)
class StoreConfig:
    type: Literal["sqlite"] = "sqlite"
    path: str = "var/ndrtrack.sqlite3"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = True
    host: str = field(default="127.0.0.1", metadata=meta(check=_ip))
    port: int = field(default=9425, metadata=meta(check=_port))


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True, slots=True)
class LogSource:
    """A mail log file to follow (or import) and the format its lines are in."""

    path: str
    format: Literal["auto", "syslog", "postfix", "exim", "sendmail", "smtpf", "exchange",
                    "journal"] = "auto"
    host: str = ""  # for files whose lines carry no host name (Exim mainlog, Exchange CSV)
    follow: bool = True


@dataclass(frozen=True, slots=True)
class SyslogReceiverConfig:
    enabled: bool = False
    host: str = field(default="127.0.0.1", metadata=meta(check=_ip))
    port: int = field(default=5514, metadata=meta(check=_port))
    udp: bool = True
    tcp: bool = True


@dataclass(frozen=True, slots=True)
class LogsConfig:
    sources: tuple[LogSource, ...] = ()
    syslog: SyslogReceiverConfig = field(default_factory=SyslogReceiverConfig)
    timezone: str = "UTC"  # for RFC 3164 time stamps, which carry none
    retention_days: int = field(default=90, metadata=meta(check=_positive))
    state_path: str = "var/logs-state"


@dataclass(frozen=True, slots=True)
class DnsConfig:
    nameservers: tuple[str, ...] = ()  # "host" or "host:port"; empty: the system's
    timeout: float = field(default=3.0, metadata=meta(check=_positive))
    retries: int = field(default=2, metadata=meta(check=_non_negative))
    cache_size: int = field(default=10000, metadata=meta(check=_non_negative))
    max_concurrency: int = field(default=32, metadata=meta(check=_positive))
    dnsbl_zones: tuple[str, ...] = ()
    edns_payload: int = field(default=1232, metadata=meta(check=_non_negative))  # 0: no EDNS


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """What is *ours*: decides whether a rejecting server is ours or the sender's side."""

    domains: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # host names or suffixes (".mx.example.com") of our gateways
    networks: tuple[str, ...] = field(default=(), metadata=meta(check=_each(_network)))


@dataclass(frozen=True, slots=True)
class Config:
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    source: str = field(default="", metadata=meta(doc="the file this was loaded from"))


# --------------------------------------------------------------------------- loading


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, path: str, reason: str) -> None:
        self.lines.append(f"{self.file}: {path or '(top level)'}: {reason}")


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _convert_scalar(kind: type, value: Any) -> tuple[Any, str | None]:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value), None
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value), None
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value, None
    return None, f"expected {_TYPE_NAMES[kind]}, got {type(value).__name__} {value!r}"


def _convert(hint: Any, value: Any, path: str, problems: _Problems) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, problems)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            problems.add(path, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if isinstance(value, (str, int, float)) and not dataclasses.is_dataclass(item_hint):
            value = [value]  # a single value where a list is expected is taken as a list of one
        if not isinstance(value, list):
            problems.add(path, f"expected a list, got {type(value).__name__}")
            return ()
        return tuple(_convert(item_hint, v, f"{path}[{i}]", problems) for i, v in enumerate(value))
    if origin in (types.UnionType, typing.Union):
        return value
    converted, reason = _convert_scalar(hint, value)
    if reason:
        problems.add(path, reason)
    return converted


def _read_secret(path: str, key_path: str, problems: _Problems) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.add(key_path, f"cannot read secret file {path}: {exc.strerror}")
        return None


def _build(cls: Any, data: Any, path: str, problems: _Problems) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(path, f"expected a mapping, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    secrets = {f"{n}_file": n for n, f in fields.items() if f.metadata.get("secret")}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        name = secrets.get(key, key)
        if name not in fields:
            problems.add(key_path, "unknown key")
            continue
        if key in secrets:
            _, reason = _convert_scalar(str, raw)
            if reason:
                problems.add(key_path, reason)
                continue
            raw = _read_secret(raw, key_path, problems)
            if raw is None:
                continue
        values[name] = _convert(hints[name], raw, key_path, problems)
        check = fields[name].metadata.get("check")
        if check is not None and values[name] is not None:
            reason = check(values[name])
            if reason:
                problems.add(key_path, reason)
    for name, f in fields.items():
        if name not in values and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            problems.add(f"{path}.{name}" if path else name, "required key is missing")
    try:
        return cls(**values)
    except TypeError:
        return None  # problems already say why


def _mailbox_checks(intake: IntakeConfig, problems: _Problems) -> None:
    """A mailbox polled twice, or moved into itself, would store its messages again."""
    seen: set[str] = set()
    for i, maildir in enumerate(intake.maildirs):
        path = os.path.abspath(maildir.path)
        if path in seen:
            problems.add(f"intake.maildirs[{i}].path", f"{maildir.path} is listed twice")
        seen.add(path)
    for i, imap in enumerate(intake.imap):
        where = (imap.host.lower(), imap.port, imap.username, imap.folder)
        if str(where) in seen:
            problems.add(f"intake.imap[{i}]", f"{imap.username}@{imap.host}:{imap.port}/"
                         f"{imap.folder} is listed twice")
        seen.add(str(where))
        if not imap.password:
            problems.add(f"intake.imap[{i}].password", "required (password or password_file)")
        if imap.after == "move" and imap.move_to == imap.folder:
            problems.add(f"intake.imap[{i}].move_to", "must differ from folder")


def _cross_checks(config: Config, problems: _Problems) -> None:
    _mailbox_checks(config.intake, problems)
    smtp, lmtp = config.intake.smtp, config.intake.lmtp
    if smtp.enabled and lmtp.enabled and (smtp.host, smtp.port) == (lmtp.host, lmtp.port):
        problems.add("intake.lmtp.port", f"same address as intake.smtp ({smtp.host}:{smtp.port})")
    for name, listener in (("smtp", smtp), ("lmtp", lmtp)):
        if bool(listener.tls_cert_file) != bool(listener.tls_key_file):
            problems.add(f"intake.{name}.tls_key_file",
                         "tls_cert_file and tls_key_file go together")
    if config.http.enabled and smtp.enabled and config.http.port == smtp.port \
            and config.http.host == smtp.host:
        problems.add("http.port", "same address as intake.smtp")
    if not config.intake.addresses:
        problems.add("intake.addresses", "at least one intake address is needed")


def parse_config(text: str, file: str = "<config>") -> Config:
    """Parse YAML ``text``; raise ``ConfigError`` listing every problem."""
    problems = _Problems(file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError([f"{file}: (yaml): {where}: {getattr(exc, 'problem', exc)}"]) from exc
    config = _build(Config, data, "", problems)
    if config is not None and not problems.lines:
        _cross_checks(config, problems)
    if problems.lines or config is None:
        raise ConfigError(problems.lines or [f"{file}: (top level): invalid configuration"])
    return dataclasses.replace(config, source=file)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a configuration file; raise ``ConfigError`` with every problem found."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: (file): not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: (file): cannot read: {exc}"]) from None
    return parse_config(text, file)
