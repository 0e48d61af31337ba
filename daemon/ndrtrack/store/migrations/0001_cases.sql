-- Cases: one per intake message (spool id), whatever the later stages find.
CREATE TABLE cases (
    id           INTEGER PRIMARY KEY,
    spool_id     TEXT NOT NULL UNIQUE,
    received_at  TEXT NOT NULL,
    source       TEXT NOT NULL,
    peer         TEXT NOT NULL DEFAULT '',
    helo         TEXT NOT NULL DEFAULT '',
    mail_from    TEXT NOT NULL DEFAULT '',
    rcpt_tos     TEXT NOT NULL DEFAULT '[]',   -- JSON list
    from_header  TEXT NOT NULL DEFAULT '',
    to_header    TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    date_header  TEXT NOT NULL DEFAULT '',
    message_id   TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL DEFAULT 'received',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX cases_received_at ON cases (received_at);

-- What each runner stage produced for a case: makes every stage idempotent by spool id.
CREATE TABLE case_stages (
    case_id   INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    stage     TEXT NOT NULL,
    outcome   TEXT NOT NULL,          -- ok | error | skipped
    result    TEXT NOT NULL DEFAULT '{}',  -- JSON
    done_at   TEXT NOT NULL,
    PRIMARY KEY (case_id, stage)
);
