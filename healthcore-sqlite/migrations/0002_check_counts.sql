-- Per-check hourly counts -------------------------------------------------------

-- What `Store::check_counts` reads: one row per series (target, check) and
-- hour, the counters of the core's `Bucket` in the `rollups` blob format
-- (only the check counts and latency are non-zero). Merged in the same
-- transaction as the raw rows they count, so a per-check result history
-- counts every result of a window without reading raw rows. Series-major
-- key: one check's hours are one contiguous range. Purged with hour
-- rollups.
CREATE TABLE check_counts (
    series INTEGER NOT NULL,
    start  INTEGER NOT NULL,
    counts BLOB NOT NULL,
    PRIMARY KEY (series, start)
) STRICT, WITHOUT ROWID;

CREATE INDEX check_counts_by_start ON check_counts (start);
