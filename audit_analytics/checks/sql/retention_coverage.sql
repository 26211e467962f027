-- retention_coverage, gaps: stretches of at least $max_gap_minutes whole minutes with no
-- event at all (a logging outage; PCI DSS 10.7). Computed on distinct event minutes.
WITH minutes AS (
    SELECT DISTINCT date_trunc('minute', "timestamp") AS minute
    FROM events
    WHERE "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
      AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
),
ordered AS (
    SELECT minute, lag(minute) OVER (ORDER BY minute) AS previous
    FROM minutes
)
SELECT
    'gap' AS kind,
    CAST(NULL AS VARCHAR) AS actor_id,
    previous + INTERVAL 1 MINUTE AS window_start,
    minute AS window_end,
    CAST(epoch(minute - previous) / 60 - 1 AS BIGINT) AS value,
    CAST(NULL AS DOUBLE) AS baseline,
    $max_gap_minutes AS threshold
FROM ordered
WHERE epoch(minute - previous) / 60 - 1 >= $max_gap_minutes
ORDER BY window_start
