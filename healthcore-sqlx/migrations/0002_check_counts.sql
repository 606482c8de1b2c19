-- Per-check hourly counts: what `Store::check_counts` reads. One row per
-- check and hour with the counters of the core's `Bucket` that results
-- carry (totals and latency); merged in the same transaction as the raw
-- results they count, so a per-check result history counts every result
-- of a window without reading raw rows. Purged with hour rollups.
CREATE TABLE hc_check_counts (
    target_id      text COLLATE "C" NOT NULL,
    check_id       text COLLATE "C" NOT NULL,
    start          timestamptz NOT NULL,
    checks_total   bigint NOT NULL,
    checks_healthy bigint NOT NULL,
    checks_failed  bigint NOT NULL,
    latency_count  bigint NOT NULL,
    latency_sum_us bigint NOT NULL,
    latency_min_us bigint,
    latency_max_us bigint,
    PRIMARY KEY (target_id, check_id, start)
) WITH (fillfactor = 80); -- room for HOT updates: the current hour merges often
CREATE INDEX hc_check_counts_start ON hc_check_counts (start);
