-- healthcore on PostgreSQL, schema version 1.
--
-- Migrations are append-only once landed: never edit this file, add
-- 0002_….sql instead (sqlx stores a checksum of every applied file and
-- refuses to start when one changed).
--
-- Every identifier column is COLLATE "C" so that ORDER BY matches Rust's
-- byte-wise string order (and the in-memory reference store).

-- Targets: indexed columns for filters, the whole Target as JSON.
CREATE TABLE hc_targets (
    id          text COLLATE "C" PRIMARY KEY,
    tenant      text COLLATE "C" NOT NULL,
    mac_address text COLLATE "C",
    body        jsonb NOT NULL
);
CREATE INDEX hc_targets_tenant ON hc_targets (tenant, id);
CREATE INDEX hc_targets_mac ON hc_targets (mac_address) WHERE mac_address IS NOT NULL;

-- Lease epochs come from one sequence, so an epoch only ever increases,
-- even across a check deleted and created again.
CREATE SEQUENCE hc_lease_epoch AS bigint;

-- Checks.
CREATE TABLE hc_checks (
    target_id text COLLATE "C" NOT NULL REFERENCES hc_targets (id) ON DELETE CASCADE,
    check_id  text COLLATE "C" NOT NULL,
    spec      jsonb NOT NULL,
    enabled   boolean NOT NULL,
    PRIMARY KEY (target_id, check_id)
);

-- One lease row per check, narrow so claims rewrite little: who holds the
-- check, under which epoch, until when (database time), and when it is
-- next due. `enabled` is copied from the check for the due index.
CREATE TABLE hc_leases (
    target_id  text COLLATE "C" NOT NULL,
    check_id   text COLLATE "C" NOT NULL,
    enabled    boolean NOT NULL,
    next_due   timestamptz NOT NULL DEFAULT '-infinity',
    owner      text,
    epoch      bigint NOT NULL DEFAULT 0,
    expires_at timestamptz,
    PRIMARY KEY (target_id, check_id),
    FOREIGN KEY (target_id, check_id) REFERENCES hc_checks (target_id, check_id) ON DELETE CASCADE
) WITH (fillfactor = 70); -- room for HOT updates: claims rewrite rows often
CREATE INDEX hc_leases_due ON hc_leases (next_due) WHERE enabled;

-- Raw results: append-only, with no btree index at all (DESIGN.md §6:
-- every uptime query reads rollups; writes must stay cheap). A BRIN index
-- on `at` (rows arrive in time order) serves "recent results" through
-- time windows and retention.
CREATE TABLE hc_results (
    target_id  text COLLATE "C" NOT NULL,
    check_id   text COLLATE "C" NOT NULL,
    at         timestamptz NOT NULL,
    outcome    text NOT NULL,
    status     text NOT NULL,
    latency_ns bigint,
    message    text,
    details    jsonb
);
CREATE INDEX hc_results_at ON hc_results USING brin (at);

-- Rollup buckets per target: granularity 0 = minute, 1 = hour, 2 = day.
CREATE TABLE hc_rollups (
    target_id      text COLLATE "C" NOT NULL,
    granularity    smallint NOT NULL,
    start          timestamptz NOT NULL,
    healthy_ms     bigint NOT NULL,
    degraded_ms    bigint NOT NULL,
    down_ms        bigint NOT NULL,
    unknown_ms     bigint NOT NULL,
    maintenance_ms bigint NOT NULL,
    checks_total   bigint NOT NULL,
    checks_healthy bigint NOT NULL,
    checks_failed  bigint NOT NULL,
    latency_count  bigint NOT NULL,
    latency_sum_us bigint NOT NULL,
    latency_min_us bigint,
    latency_max_us bigint,
    PRIMARY KEY (target_id, granularity, start)
) WITH (fillfactor = 80); -- room for HOT updates: open buckets merge often
CREATE INDEX hc_rollups_range ON hc_rollups (granularity, start);

-- Current state per check or target, written on transitions.
CREATE TABLE hc_states (
    key        text COLLATE "C" PRIMARY KEY,
    target_id  text COLLATE "C" NOT NULL,
    scope      jsonb NOT NULL,
    body       jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX hc_states_target ON hc_states (target_id);

-- Alerts: at most one unresolved alert per (target, kind), enforced here.
CREATE TABLE hc_alerts (
    id          text COLLATE "C" PRIMARY KEY,
    target_id   text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    status      text NOT NULL,
    severity    text NOT NULL,
    created_at  timestamptz NOT NULL,
    resolved_at timestamptz,
    body        jsonb NOT NULL
);
CREATE UNIQUE INDEX hc_alerts_open_key ON hc_alerts (target_id, kind) WHERE status <> 'resolved';
CREATE INDEX hc_alerts_created ON hc_alerts (created_at DESC, id DESC);
CREATE INDEX hc_alerts_target ON hc_alerts (target_id);
CREATE INDEX hc_alerts_resolved ON hc_alerts (resolved_at) WHERE status = 'resolved';

-- Configuration documents.
CREATE TABLE hc_docs (
    kind       text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    tenant     text COLLATE "C",
    target_id  text COLLATE "C",
    body       jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);

-- The journal: lifecycle events, heal events, audit, snapshots, windows.
CREATE TABLE hc_entries (
    kind      text COLLATE "C" NOT NULL,
    id        text COLLATE "C" NOT NULL,
    target_id text COLLATE "C",
    tenant    text COLLATE "C",
    at        timestamptz NOT NULL,
    subtype   text COLLATE "C",
    body      jsonb NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX hc_entries_target ON hc_entries (kind, target_id, at);
CREATE INDEX hc_entries_at ON hc_entries (kind, at);
