-- off_hours_access: activity outside business hours (policy time zone and weekdays) AND
-- outside the actor's own usual hours: an hour of day is usual for an actor seen in it on
-- at least $usual_min_days distinct days, widened by $margin hours each side. Night shifts
-- and 24/7 service accounts therefore stay quiet. One finding per actor and local day.
-- Actors with fewer than $min_history_days actor-days of history (_aa_actor_days) have no
-- usual hours yet: they are not judged (insufficient_baseline.sql reports them).
WITH judged AS (
    SELECT actor_id
    FROM _aa_actor_days
    GROUP BY actor_id
    HAVING count(*) >= $min_history_days
),
ev AS NOT MATERIALIZED (
    SELECT actor_id, "timestamp", timezone($tz, "timestamp") AS local_ts
    FROM events
    SEMI JOIN judged USING (actor_id)
    WHERE "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
),
hour_days AS (
    SELECT actor_id, hour(local_ts) AS hour, count(DISTINCT CAST(local_ts AS DATE)) AS days
    FROM ev
    GROUP BY ALL
),
usual AS (
    SELECT DISTINCT h.actor_id, (h.hour + r.shift + 24) % 24 AS hour
    FROM hour_days AS h, range(-$margin, $margin + 1) AS r(shift)
    WHERE h.days >= $usual_min_days
),
off AS (
    SELECT actor_id, "timestamp", local_ts, hour(local_ts) AS hour
    FROM ev
    WHERE "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
      AND NOT (
          list_contains($isodows, isodow(local_ts))
          AND CAST(local_ts AS TIME) >= CAST($start AS TIME)
          AND CAST(local_ts AS TIME) < CAST($end AS TIME)
      )
),
unusual AS (
    SELECT o.*
    FROM off AS o
    ANTI JOIN usual AS u ON u.actor_id = o.actor_id AND u.hour = o.hour
)
SELECT
    o.actor_id,
    min(o."timestamp") AS window_start,
    max(o."timestamp") AS window_end,
    CAST(o.local_ts AS DATE) AS local_day,
    count(*) AS value,
    max(coalesce(h.days, 0)) AS baseline,
    $usual_min_days AS threshold,
    string_agg(DISTINCT lpad(CAST(o.hour AS VARCHAR), 2, '0'), ',' ORDER BY lpad(CAST(o.hour AS VARCHAR), 2, '0')) AS local_hours
FROM unusual AS o
LEFT JOIN hour_days AS h ON h.actor_id = o.actor_id AND h.hour = o.hour
GROUP BY o.actor_id, CAST(o.local_ts AS DATE)
HAVING count(*) >= $min_events
ORDER BY window_start, o.actor_id
