"""One root exception with structured subclasses; this module imports nothing of the package.

An answer such as NXDOMAIN, "no MX" or an unknown log line is a *finding*, not an exception:
these classes mean "could not do it" (could not read, could not store, could not ask).
"""

from __future__ import annotations


class NdrtrackError(Exception):
    """Root of every error ndrtrack raises on purpose."""


class ConfigError(NdrtrackError):
    """A configuration problem; ``problems`` holds ``FILE: key.path: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SpoolError(NdrtrackError):
    """The spool could not store or move an entry (disk full, permissions, …)."""


class StoreError(NdrtrackError):
    """The store (database) could not be opened, migrated, read or written."""


class MailboxError(NdrtrackError):
    """A mailbox (Maildir or IMAP folder) could not be polled; ``kind`` says at which step.

    Kinds: ``connect_error``, ``tls_error``, ``auth_error``, ``mailbox_error``.
    """

    def __init__(self, message: str, *, kind: str = "mailbox_error") -> None:
        self.kind = kind
        super().__init__(message)


class ParseError(NdrtrackError):
    """A message could not be decoded; the parser records it instead of raising it out."""


class LogFormatError(NdrtrackError):
    """A log file or source could not be read in the declared format."""


class DnsError(NdrtrackError):
    """A DNS question could not be asked (timeout, SERVFAIL, no nameserver)."""

    def __init__(self, message: str, *, qname: str = "", rdtype: str = "",
                 server: str = "") -> None:
        self.qname = qname
        self.rdtype = rdtype
        self.server = server
        super().__init__(message)
