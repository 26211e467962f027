-- failed_access_burst: more than $max_failures failures or denials by one actor within any
-- sliding window of $window_hours (a RANGE window over timestamps, not calendar days).
-- Anonymous attempts are keyed by their IP address. Overlapping flagged windows merge into
-- one episode: window_start is the first attempt of its first window, window_end the last.
WITH fails AS (
    SELECT
        coalesce(actor_id, 'ip:' || coalesce(ip_address, 'unknown')) AS actor_id,
        "timestamp"
    FROM events
    WHERE list_contains($results, result)
      AND "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
                         - to_hours($window_hours)
      AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
),
windowed AS (
    SELECT
        actor_id,
        "timestamp",
        count(*) OVER w AS n,
        min("timestamp") OVER w AS first_in_window
    FROM fails
    WINDOW w AS (
        PARTITION BY actor_id ORDER BY "timestamp"
        RANGE BETWEEN to_hours($window_hours) PRECEDING AND CURRENT ROW
    )
),
flagged AS (
    SELECT
        *,
        CASE
            WHEN first_in_window
                 <= lag("timestamp") OVER (PARTITION BY actor_id ORDER BY "timestamp")
            THEN 0 ELSE 1
        END AS starts_episode
    FROM windowed
    WHERE n > $max_failures
      AND "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
),
episodes AS (
    SELECT
        *,
        sum(starts_episode) OVER (
            PARTITION BY actor_id ORDER BY "timestamp" ROWS UNBOUNDED PRECEDING
        ) AS episode
    FROM flagged
),
baseline AS (
    SELECT actor_id, median(failures) AS baseline
    FROM _aa_actor_days
    GROUP BY actor_id
)
SELECT
    e.actor_id,
    min(e.first_in_window) AS window_start,
    max(e."timestamp") AS window_end,
    max(e.n) AS value,
    any_value(b.baseline) AS baseline,
    $max_failures AS threshold,
    count(*) AS flagged_attempts
FROM episodes AS e
LEFT JOIN baseline AS b USING (actor_id)
GROUP BY e.actor_id, e.episode
ORDER BY value DESC, e.actor_id, window_start
