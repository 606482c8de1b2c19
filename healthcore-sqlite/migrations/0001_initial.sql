-- 0001: the first healthcore schema.
--
-- Migrations are append-only once landed: never edit this file, add
-- 0002_….sql instead. Each runs once, in its own IMMEDIATE transaction,
-- and PRAGMA user_version records the last one applied.
--
-- Conventions: instants are INTEGER nanoseconds since the Unix epoch (UTC);
-- `record` columns hold the whole record as JSON (exact round trip) and
-- the other columns are copies kept for filtering and ordering.

-- Targets and checks --------------------------------------------------------

CREATE TABLE targets (
    id     TEXT PRIMARY KEY NOT NULL,
    tenant TEXT NOT NULL,
    mac    TEXT,
    record TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX targets_by_tenant ON targets (tenant, id);
CREATE INDEX targets_by_mac ON targets (mac) WHERE mac IS NOT NULL;

CREATE TABLE checks (
    target   TEXT NOT NULL,
    check_id TEXT NOT NULL,
    record   TEXT NOT NULL,
    PRIMARY KEY (target, check_id)
) STRICT, WITHOUT ROWID;

-- Raw results ----------------------------------------------------------------

-- One row per (target, check) that ever wrote a result, so raw rows carry a
-- small integer instead of two strings. Rows are never deleted (history
-- outlives a deleted check until retention removes its results).
CREATE TABLE series (
    id       INTEGER PRIMARY KEY,
    target   TEXT NOT NULL,
    check_id TEXT NOT NULL,
    UNIQUE (target, check_id)
) STRICT;

-- Raw results, append-ordered by `seq` (assigned by the writer, never
-- reused). Deliberately no secondary index at all (DESIGN.md §6): per-check
-- reads go to `recent`, uptime to `rollups`, retention to `batches`.
CREATE TABLE results (
    seq        INTEGER PRIMARY KEY,
    series     INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    outcome    INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    latency_ns INTEGER,
    message    TEXT,
    details    TEXT
) STRICT;

-- One row per appended batch: its `seq` range and time span. Retention
-- finds old results here and deletes them by `seq` range, so the raw
-- table needs no time index.
CREATE TABLE batches (
    first_seq INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    min_at    INTEGER NOT NULL, -- a lower bound once retention has passed
    max_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX batches_by_min_at ON batches (min_at);

-- The last N results of each series (N = SqliteOptions::recent_per_check)
-- as `seq` pointers into `results`: ascending, LEB128-encoded (the first
-- value, then the gaps). Rewritten once per series per batch, in the
-- batch's transaction; pointers whose rows retention removed are skipped
-- on read. This small table is what per-target "recent results" read.
CREATE TABLE recent (
    series   INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    seqs     BLOB NOT NULL
) STRICT;

-- Rollups -------------------------------------------------------------------

-- Time-major key: one batch touches the current bucket of every target,
-- and those rows sit side by side, so a commit dirties few pages; a range
-- of buckets for the whole fleet is one contiguous scan.
CREATE TABLE rollups (
    gran   INTEGER NOT NULL, -- 0 minute, 1 hour, 2 day
    start  INTEGER NOT NULL,
    target TEXT NOT NULL,
    -- The counters as one blob: format byte 1, a flags byte (bit 0 latency
    -- min present, bit 1 max present), then LEB128 varints: healthy,
    -- degraded, down, unknown, maintenance ms; checks total, healthy,
    -- failed; latency count, sum µs; then min and max µs when present.
    counts BLOB NOT NULL,
    PRIMARY KEY (gran, start, target)
) STRICT, WITHOUT ROWID;

-- Current state ---------------------------------------------------------------

CREATE TABLE states (
    key    TEXT PRIMARY KEY NOT NULL,
    target TEXT NOT NULL,
    record TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX states_by_target ON states (target);

-- Alerts --------------------------------------------------------------------

CREATE TABLE alerts (
    id          TEXT PRIMARY KEY NOT NULL,
    target      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'acknowledged', 'resolved')),
    severity    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    record      TEXT NOT NULL
) STRICT;

-- Dedup is the schema's rule, not only the code's: at most one unresolved
-- alert per (target, kind).
CREATE UNIQUE INDEX alerts_open_key ON alerts (target, kind) WHERE status <> 'resolved';
CREATE INDEX alerts_by_created ON alerts (created_at, id);
CREATE INDEX alerts_by_target ON alerts (target, created_at);
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE status = 'resolved';

-- A resolved alert never reopens.
CREATE TRIGGER alerts_never_reopen
BEFORE UPDATE OF status ON alerts
WHEN OLD.status = 'resolved' AND NEW.status <> 'resolved'
BEGIN
    SELECT RAISE(ABORT, 'a resolved alert never reopens');
END;

-- Documents (configuration) ---------------------------------------------------

CREATE TABLE docs (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    tenant TEXT,
    target TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

-- Journal (history) -----------------------------------------------------------

CREATE TABLE entries (
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    target  TEXT,
    tenant  TEXT,
    at      INTEGER NOT NULL,
    subtype TEXT,
    record  TEXT NOT NULL,
    UNIQUE (kind, id)
) STRICT;

CREATE INDEX entries_by_at ON entries (kind, at, id);
CREATE INDEX entries_by_target ON entries (kind, target, at, id);
