"""The daemon's own metrics (prometheus-client, default registry).

Areas with many metrics of their own (logs, dns, parse) define them in their own
``metrics`` module; what every part of the daemon shares lives here.  Labels take few values
(source, result, state, outcome, format, reason) — never an address or a domain.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from ndrtrack import __version__

BUILD_INFO = Info("ndrtrack_build", "ndrtrack version and build")
BUILD_INFO.info({"version": __version__})

SMTP_SESSIONS = Counter("ndrtrack_smtp_sessions", "SMTP/LMTP sessions opened", ["protocol"])
INTAKE_MESSAGES = Counter(
    "ndrtrack_intake_messages",
    "Messages offered to the intake, by source (smtp, lmtp, maildir, imap) and result",
    ["source", "result"],
)
INTAKE_BYTES = Counter("ndrtrack_intake_bytes", "Bytes of messages stored in the spool",
                       ["source"])
MAILBOX_POLLS = Counter(
    "ndrtrack_mailbox_polls",
    "Polls of a Maildir or IMAP folder, by source (maildir, imap) and result "
    "(ok, connect_error, tls_error, auth_error, mailbox_error, spool_error, error)",
    ["source", "result"],
)
SPOOL_ENTRIES = Gauge("ndrtrack_spool_entries", "Spool entries by state", ["state"])
SPOOL_PURGED = Counter("ndrtrack_spool_purged",
                       "Processed spool entries (done/) deleted by retention")
RUNNER_PROCESSED = Counter("ndrtrack_runner_processed",
                           "Spool entries the runner finished, by outcome", ["outcome"])
RUNNER_SECONDS = Histogram(
    "ndrtrack_runner_seconds", "Time the runner spent on one spool entry (all stages)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STAGE_ERRORS = Counter("ndrtrack_stage_errors", "Runner stage failures, by stage", ["stage"])
NDR_RECORDS = Counter("ndrtrack_ndr_records",
                      "Bounced recipients decoded from intake messages", ["format", "reason"])
CASES = Counter("ndrtrack_cases", "Cases recorded, by what the message was", ["kind"])
CONFIG_RELOADS = Counter("ndrtrack_config_reloads", "SIGHUP reloads, by result", ["result"])
LOG_RECORDS_DROPPED = Counter("ndrtrack_log_records_dropped",
                              "Log records dropped because the logging queue was full")
