"""The daemon: one ``App`` owns every long-lived service and starts/stops them in order.

Start-up order: store (open, migrate) → spool (sweep ``tmp/``, put ``processing/`` back) →
runner → HTTP → SMTP/LMTP listeners → the optional services the config asks for (mailbox
pollers, log followers, syslog receiver, the spool's retention purger) → ``READY=1``.  Stop
is the reverse: listeners stop accepting and let the transactions in flight finish within
``GRACE_SECONDS``, the runner finishes the entry in hand, then HTTP and the store close.

Signals: SIGTERM/SIGINT stop and exit 0; SIGHUP reloads the config file — a bad new config
is reported line by line and the old one kept; what can change live (intake addresses,
limits, runner tries/back-off, log level and format) is applied, the rest is logged as
needing a restart.  systemd readiness is spoken directly on ``$NOTIFY_SOCKET`` (no extra
dependency): ``READY=1``, ``RELOADING=1``, ``STOPPING=1`` and ``WATCHDOG=1`` when
``$WATCHDOG_USEC`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ndrtrack.config import Config, load_config
from ndrtrack.errors import ConfigError, NdrtrackError
from ndrtrack.intake.runner import Runner
from ndrtrack.intake.smtp import IntakeListener, tls_context
from ndrtrack.intake.spool import Spool, SpoolWriter
from ndrtrack.logsetup import configure_logging
from ndrtrack.metrics import CONFIG_RELOADS, SPOOL_ENTRIES
from ndrtrack.store.base import Store, open_store

log = logging.getLogger(__name__)

GRACE_SECONDS = 30.0  # for transactions in flight at SIGTERM (systemd's TimeoutStopSec is 90)
SPOOL_WRITERS = 2  # threads writing batches to the spool (one writes while one flushes)


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What an optional service may need from the App (passed to its factory)."""

    config: Config
    spool: Spool
    store: Store
    wake_runner: Callable[[], None]


def _mailbox_services(ctx: ServiceContext) -> list[Service]:
    """A poller per configured Maildir and IMAP folder (``intake/mailbox.py``)."""
    from ndrtrack.intake.mailbox import ImapPoller, MaildirPoller

    intake = ctx.config.intake
    limit = intake.smtp.max_message_size
    services: list[Service] = [
        MaildirPoller(source=source, spool=ctx.spool, interval=intake.maildir_poll_interval,
                      max_message_size=limit, on_stored=ctx.wake_runner)
        for source in intake.maildirs]
    services += [ImapPoller(source=source, spool=ctx.spool, max_message_size=limit,
                            on_stored=ctx.wake_runner) for source in intake.imap]
    return services


def _log_services(ctx: ServiceContext) -> list[Service]:
    """Log followers, the syslog receiver and the retention purger (``logs/service.py``)."""
    from ndrtrack.logs.service import log_services

    return log_services(config=ctx.config.logs, store=ctx.store)


def _spool_services(ctx: ServiceContext) -> list[Service]:
    """The purger of the spool's processed entries (``intake/retention.py``)."""
    from ndrtrack.intake.retention import SpoolPurger

    return [SpoolPurger(config=ctx.config.spool, spool=ctx.spool)]


#: Optional services: (name, is it configured?, factory).  A factory imports its area lazily.
#: The log index's retention purger runs even without sources: imported logs expire too.
SERVICE_FACTORIES: tuple[tuple[str, Callable[[Config], bool],
                           Callable[[ServiceContext], list[Service]]], ...] = (
    ("mailbox", lambda c: bool(c.intake.maildirs or c.intake.imap), _mailbox_services),
    ("logs", lambda c: True, _log_services),
    ("spool retention", lambda c: c.spool.done_retention_days > 0, _spool_services),
)


def sd_notify(message: str) -> bool:
    """Send one datagram to systemd's notify socket; False when not run under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify %s failed: %s", message.split("\n")[0], exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds when the watchdog is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


class App:
    """Owns the store, spool, runner, HTTP, listeners and optional services."""

    def __init__(self, config: Config, *, grace: float = GRACE_SECONDS) -> None:
        self.config = config
        self.grace = grace
        self.store = open_store(config.store.type, config.store.path)
        self.spool = Spool(config.spool.path)
        self.writer: SpoolWriter | None = None
        self.runner: Runner | None = None
        self.listeners: dict[str, IntakeListener] = {}
        self.http: Any = None
        self.services: list[tuple[str, Service]] = []  # optional ones, in start order
        self._stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    # readiness -------------------------------------------------------------------
    def readiness(self) -> dict[str, bool]:
        checks = {f"{name}_listening": listener.bound
                  for name, listener in self.listeners.items()}
        checks["spool_writable"] = self.spool.writable()
        checks["store_open"] = self.store.is_open()
        checks["runner_running"] = self.runner is not None and self.runner.running
        return checks

    def intake_busy(self) -> bool:
        """Some SMTP/LMTP transaction is in flight (the runner then gives way)."""
        return any(listener.sessions.busy() for listener in self.listeners.values())

    def refresh_gauges(self) -> None:
        for state, count in self.spool.counts().items():
            SPOOL_ENTRIES.labels(state).set(count)

    # start / stop ------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.store.setup)
        await asyncio.to_thread(self.spool.setup)
        self.writer = SpoolWriter(self.spool, threads=SPOOL_WRITERS)
        self.runner = Runner(spool=self.spool, store=self.store, config=self.config,
                             intake_busy=self.intake_busy)
        await self.runner.start()
        if self.config.http.enabled:
            from ndrtrack.http import HttpService
            self.http = HttpService(config=self.config.http, readiness=self.readiness,
                                    before_scrape=self.refresh_gauges)
            await self.http.start()
        for name in ("smtp", "lmtp"):
            listener_config = getattr(self.config.intake, name)
            if listener_config.enabled:
                listener = IntakeListener(source=name, config=listener_config,
                                          addresses=self.config.intake.addresses,
                                          writer=self.writer,
                                          on_stored=self.runner.wake)
                await listener.start()
                self.listeners[name] = listener
        await self._start_optional()
        sd_notify("READY=1\nSTATUS=accepting mail")
        bound = [f"{n} {li.config.host}:{li.port}" for n, li in self.listeners.items()]
        log.info("ndrtrack ready (%s)", ", ".join(bound) or "no listeners")

    async def _start_optional(self) -> None:
        ctx = ServiceContext(config=self.config, spool=self.spool, store=self.store,
                             wake_runner=self.runner.wake if self.runner else lambda: None)
        for name, configured, factory in SERVICE_FACTORIES:
            if not configured(self.config):
                continue
            for service in factory(ctx):
                await service.start()
                self.services.append((name, service))

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        log.info("stopping: no new connections; %.0fs for transactions in flight", self.grace)
        await asyncio.gather(*(listener.stop(self.grace) for listener in self.listeners.values()))
        for name, service in reversed(self.services):
            await self._quietly(name, service.stop())
        if self.runner is not None:
            await self.runner.stop()
        if self.http is not None:
            await self._quietly("http", self.http.stop())
        for task in self._tasks:
            task.cancel()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        await asyncio.to_thread(self.store.close)
        log.info("stopped")

    @staticmethod
    async def _quietly(name: str, awaitable: Any) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("stopping %s failed", name)

    # running -------------------------------------------------------------------------
    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, stop; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        try:
            await self.start()
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, OSError):  # e.g. the HTTP port in use: one line, exit 1
                raise NdrtrackError(f"cannot start: {exc}") from exc
            raise
        interval = watchdog_interval()
        if interval:
            self._spawn(self._watchdog(interval))
        await self._stop_event.wait()
        await self.stop()
        return 0

    def request_stop(self, sig: signal.Signals | None = None) -> None:
        if sig is not None:
            log.info("received %s", signal.Signals(sig).name)
        self._stop_event.set()

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))

    async def _watchdog(self, interval: float) -> None:
        while True:
            sd_notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    # reload --------------------------------------------------------------------------
    async def reload(self) -> bool:
        """SIGHUP: re-read the config file; keep the old config when the new one is bad."""
        path = self.config.source
        sd_notify("RELOADING=1")
        try:
            try:
                new = await asyncio.to_thread(load_config, path)
            except ConfigError as exc:
                CONFIG_RELOADS.labels("error").inc()
                for line in exc.problems:
                    log.error("reload rejected, keeping the running config: %s", line)
                return False
            for line in self.apply(new):
                log.warning("reload: %s", line)
            CONFIG_RELOADS.labels("ok").inc()
            log.info("configuration reloaded from %s", path)
            return True
        finally:
            sd_notify("READY=1")

    def apply(self, new: Config) -> list[str]:
        """Apply what can change live; return notes about what needs a restart."""
        notes = []
        for name, listener in self.listeners.items():
            for key in listener.update(getattr(new.intake, name), new.intake.addresses):
                notes.append(f"intake.{name}.{key} changed; takes effect after a restart")
        if new.logging != self.config.logging:
            configure_logging(new.logging)
        if self.runner is not None:
            self.runner.update(new)
        for section in ("spool", "store", "http", "logs", "dns"):
            if getattr(new, section) != getattr(self.config, section):
                notes.append(f"{section} changed; takes effect after a restart")
        for name in ("smtp", "lmtp"):
            if name not in self.listeners and getattr(new.intake, name).enabled:
                notes.append(f"intake.{name}.enabled changed; takes effect after a restart")
        for key in ("maildirs", "imap", "maildir_poll_interval"):
            if getattr(new.intake, key) != getattr(self.config.intake, key):
                notes.append(f"intake.{key} changed; takes effect after a restart")
        self.config = new
        return notes


def preflight(config: Config) -> None:
    """Checks beyond the schema that would otherwise only fail while starting: TLS material.

    Raises ``ConfigError`` with ``FILE: key.path: reason`` lines, like the schema checks, so
    ``check-config`` and ``serve`` report a bad certificate the same way (exit 2).
    """
    problems = []
    for name in ("smtp", "lmtp"):
        listener = getattr(config.intake, name)
        if listener.enabled and listener.tls_cert_file:
            try:
                tls_context(listener.tls_cert_file, listener.tls_key_file)
            except (ssl.SSLError, OSError) as exc:
                problems.append(f"{config.source}: intake.{name}.tls_cert_file: cannot load "
                                f"the certificate and key: {exc}")
    if problems:
        raise ConfigError(problems)


def serve(config: Config) -> int:
    """Run the daemon in the foreground until stopped; the process exit status."""
    preflight(config)
    configure_logging(config.logging)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    return asyncio.run(App(config).run())
