"""Metrics of the log index.  Labels take few values: mta, program (syslog identifier),
result (parsed, unknown, error) — never an address, a domain or a host name."""

from __future__ import annotations

from prometheus_client import Counter

LOG_LINES = Counter("ndrtrack_log_lines", "Mail-log lines read, by MTA, program and result "
                    "(parsed, unknown, error)", ["mta", "program", "result"])
LOG_EVENTS = Counter("ndrtrack_log_events", "Log events joined into message traces", ["mta"])
LOG_TRACES = Counter("ndrtrack_log_traces_written",
                     "Message-trace rows inserted or merged into the index", ["source"])
LOG_PURGED = Counter("ndrtrack_log_traces_purged", "Message traces removed by retention")
SYSLOG_MESSAGES = Counter("ndrtrack_syslog_messages",
                          "Messages received by the built-in syslog receiver, by transport "
                          "and result", ["transport", "result"])
