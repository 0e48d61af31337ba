-- The mail-log index: one row per message per host (not per line), so that ingest stays
-- batched and fast and a search returns whole messages.  Times are Unix epoch seconds (REAL).

-- One message on one host: keyed by (host, queue id, start time) because queue ids are
-- reused, and pre-queue rejects have no queue id and are rows of their own.
CREATE TABLE log_traces (
    id              INTEGER PRIMARY KEY,
    host            TEXT NOT NULL,
    mta             TEXT NOT NULL,
    queue_id        TEXT NOT NULL,
    started         REAL NOT NULL,
    first_at        REAL NOT NULL,
    last_at         REAL NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0,
    message_id      TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    sender          TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    sender_domain   TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    client_ip       TEXT NOT NULL DEFAULT '',
    client_key      BLOB,                     -- 16-byte address (IPv4 mapped) for CIDR ranges
    client_host     TEXT NOT NULL DEFAULT '',
    client_host_rev TEXT NOT NULL DEFAULT '', -- reversed, lower case: suffix search by range
    helo            TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL DEFAULT '',
    links           TEXT NOT NULL DEFAULT '', -- other ids, space separated (also in log_links)
    nevents         INTEGER NOT NULL DEFAULT 0 -- lines in log_events.events
);
-- queue id first: it also serves a search by queue id alone (an NDR names one)
CREATE UNIQUE INDEX log_traces_key ON log_traces (queue_id, host, started) WHERE queue_id != '';
-- (key, first_at): a search returns the newest messages first without sorting every match
CREATE INDEX log_traces_sender ON log_traces (sender, first_at);
CREATE INDEX log_traces_sender_domain ON log_traces (sender_domain, first_at);
CREATE INDEX log_traces_message_id ON log_traces (message_id);
CREATE INDEX log_traces_client_key ON log_traces (client_key, first_at);
CREATE INDEX log_traces_client_host ON log_traces (client_host_rev, first_at);
CREATE INDEX log_traces_last_at ON log_traces (last_at);
CREATE INDEX log_traces_first_at ON log_traces (first_at);

-- A message's lines, "epoch<TAB>program<TAB>text" each, newline separated: read only to show
-- a timeline.  Kept apart from log_traces because they are nine tenths of its bytes, and a
-- bulk import builds every search index by scanning log_traces (a slim table: ~4x faster).
CREATE TABLE log_events (
    trace_id  INTEGER PRIMARY KEY REFERENCES log_traces (id) ON DELETE CASCADE,
    events    TEXT NOT NULL DEFAULT ''
);

-- Every recipient of a message with its latest attempt.
CREATE TABLE log_recipients (
    trace_id        INTEGER NOT NULL REFERENCES log_traces (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL COLLATE NOCASE,
    domain          TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
    orig_recipient  TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    dsn             TEXT NOT NULL DEFAULT '',
    relay           TEXT NOT NULL DEFAULT '',
    reply           TEXT NOT NULL DEFAULT '',
    at              REAL NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (trace_id, recipient)
) WITHOUT ROWID;
CREATE INDEX log_recipients_recipient ON log_recipients (recipient);
CREATE INDEX log_recipients_domain ON log_recipients (domain);
CREATE INDEX log_recipients_orig ON log_recipients (orig_recipient COLLATE NOCASE)
    WHERE orig_recipient != '';

-- Other ids a message is known by: the next hop's queue id, the NDR it caused, a filter's
-- session and message ids, the MTA's queue id behind a filter.
CREATE TABLE log_links (
    value     TEXT NOT NULL,
    trace_id  INTEGER NOT NULL REFERENCES log_traces (id) ON DELETE CASCADE,
    PRIMARY KEY (value, trace_id)
) WITHOUT ROWID;
CREATE INDEX log_links_trace ON log_links (trace_id);

-- How far each log stream (identified by a hash of its first line) has been indexed:
-- re-importing a file, or its rotated and compressed copy, adds nothing.
CREATE TABLE log_checkpoints (
    fingerprint  TEXT PRIMARY KEY,
    position     INTEGER NOT NULL,
    path         TEXT NOT NULL DEFAULT '',
    updated_at   REAL NOT NULL
);
