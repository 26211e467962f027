-- failed_access_burst: failures or denials by one actor, two kinds of finding.
--
-- kind 'burst': more failures within any sliding $window_minutes (a RANGE window over
-- timestamps, not calendar days or fixed buckets) than the actor's threshold:
--   rule 'baseline' (default): threshold = max($max_failures, median + k * 1.4826 * MAD,
--   p90_factor * p90) over the actor's daily peaks (the most failures it had in one window
--   on each actor-day of its history, 0 on days without any), so a shared kiosk that
--   mistypes a few logins every day is judged against its own habit;
--   rule 'fixed' (the seed's), or an actor with fewer than $min_history_days actor-days:
--   threshold = $max_failures alone.
-- Anonymous attempts are keyed by their IP address (no history: the fixed count).
-- Overlapping flagged windows merge into one episode: window_start is the first attempt of
-- its first window, window_end the last.
--
-- kind 'persistent_failures': the same failing operation (actor, action, resource) on at
-- least $persistent_min_days local days of history with >= $persistent_min_per_day
-- failures each, and failing again in the window: a steady stream (a stale credential
-- retried every few hours), not a burst.
WITH fails AS (
    SELECT
        coalesce(actor_id, 'ip:' || coalesce(ip_address, 'unknown')) AS actor_id,
        "timestamp",
        action,
        resource_type,
        resource_id
    FROM events
    WHERE list_contains($results, result)
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
        RANGE BETWEEN to_minutes($window_minutes) PRECEDING AND CURRENT ROW
    )
),
day_starts AS (
    SELECT actor_id, any_value(start_hour) AS start_hour
    FROM _aa_actor_days
    GROUP BY actor_id
),
day_peaks AS (
    SELECT
        w.actor_id,
        CAST(timezone($tz, w."timestamp") - to_hours(s.start_hour) AS DATE) AS day,
        max(w.n) AS peak
    FROM windowed AS w
    JOIN day_starts AS s USING (actor_id)
    GROUP BY ALL
),
baseline AS (
    SELECT
        d.actor_id,
        count(*) AS days,
        median(coalesce(p.peak, 0)) AS median,
        mad(coalesce(p.peak, 0)) AS mad,
        quantile_cont(coalesce(p.peak, 0), 0.9) AS p90
    FROM _aa_actor_days AS d
    LEFT JOIN day_peaks AS p ON p.actor_id = d.actor_id AND p.day = d.day
    GROUP BY d.actor_id
),
limits AS (
    SELECT
        a.actor_id,
        b.median,
        coalesce(b.days, 0) AS days,
        CASE
            WHEN $rule = 'fixed' OR coalesce(b.days, 0) < $min_history_days
            THEN CAST($max_failures AS DOUBLE)
            ELSE greatest($max_failures, b.median + $k * 1.4826 * b.mad, $p90_factor * b.p90)
        END AS threshold
    FROM (SELECT DISTINCT actor_id FROM fails) AS a
    LEFT JOIN baseline AS b USING (actor_id)
),
flagged AS (
    SELECT
        w.*,
        l.threshold,
        CASE
            WHEN w.first_in_window
                 <= lag(w."timestamp") OVER (PARTITION BY w.actor_id ORDER BY w."timestamp")
            THEN 0 ELSE 1
        END AS starts_episode
    FROM windowed AS w
    JOIN limits AS l USING (actor_id)
    WHERE w.n > l.threshold
      AND w."timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
),
episodes AS (
    SELECT
        *,
        sum(starts_episode) OVER (
            PARTITION BY actor_id ORDER BY "timestamp" ROWS UNBOUNDED PRECEDING
        ) AS episode
    FROM flagged
),
bursts AS (
    SELECT
        'burst' AS kind,
        e.actor_id,
        min(e.first_in_window) AS window_start,
        max(e."timestamp") AS window_end,
        max(e.n) AS value,
        any_value(l.median) AS baseline,
        round(any_value(e.threshold), 1) AS threshold,
        count(*) AS flagged_attempts,
        any_value(l.days) AS baseline_days,
        CAST(NULL AS VARCHAR) AS action,
        CAST(NULL AS VARCHAR) AS resource_type,
        CAST(NULL AS VARCHAR) AS resource_id
    FROM episodes AS e
    JOIN limits AS l USING (actor_id)
    GROUP BY e.actor_id, e.episode
),
operation_days AS (
    SELECT actor_id, action, resource_type, resource_id, count(*) AS steady_days
    FROM (
        SELECT actor_id, action, resource_type, resource_id,
               CAST(timezone($tz, "timestamp") AS DATE) AS day
        FROM fails
        GROUP BY ALL
        HAVING count(*) >= $persistent_min_per_day
    )
    GROUP BY ALL
),
streams AS (
    SELECT
        'persistent_failures' AS kind,
        f.actor_id,
        min(f."timestamp") AS window_start,
        max(f."timestamp") AS window_end,
        count(*) AS value,
        any_value(o.steady_days) AS baseline,
        $persistent_min_days AS threshold,
        CAST(NULL AS BIGINT) AS flagged_attempts,
        any_value(o.steady_days) AS baseline_days,
        f.action,
        f.resource_type,
        f.resource_id
    FROM fails AS f
    JOIN operation_days AS o
      ON o.actor_id = f.actor_id AND o.action IS NOT DISTINCT FROM f.action
     AND o.resource_type IS NOT DISTINCT FROM f.resource_type
     AND o.resource_id IS NOT DISTINCT FROM f.resource_id
    WHERE f."timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
      AND $persistent_min_days > 0
      AND o.steady_days >= $persistent_min_days
    GROUP BY f.actor_id, f.action, f.resource_type, f.resource_id
)
SELECT * FROM bursts
UNION ALL
SELECT * FROM streams
ORDER BY kind, value DESC, actor_id, window_start
