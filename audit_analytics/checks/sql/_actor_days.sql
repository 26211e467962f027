-- Prelude shared by volume_spike, broad_access, bulk_export and failed_access_burst:
-- one row per actor and actor-day of all history before the window's end, so each
-- actor's baseline is learned from its own past. An actor-day starts at the actor's
-- quietest local hour (policy time zone): a night shift (19:00-07:00) stays one day
-- instead of being split across two calendar days; a day worker's day starts near 04:00.
CREATE OR REPLACE TEMP TABLE _aa_actor_days AS
WITH local_events AS NOT MATERIALIZED (
    SELECT
        actor_id,
        timezone($tz, "timestamp") AS local_ts,
        action,
        result,
        resource_type,
        resource_id
    FROM events
    WHERE actor_id IS NOT NULL
      AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
),
hours AS (
    SELECT actor_id, hour(local_ts) AS hour, count(*) AS n
    FROM local_events
    GROUP BY ALL
),
day_start AS (
    -- the least active hour; ties go to the hour nearest after 04:00
    SELECT
        a.actor_id,
        arg_min(h.hour, coalesce(c.n, 0) * 100 + (h.hour + 20) % 24) AS start_hour
    FROM (SELECT DISTINCT actor_id FROM hours) AS a
    CROSS JOIN range(24) AS h(hour)
    LEFT JOIN hours AS c ON c.actor_id = a.actor_id AND c.hour = h.hour
    GROUP BY a.actor_id
)
SELECT
    e.actor_id,
    CAST(e.local_ts - to_hours(s.start_hour) AS DATE) AS day,
    any_value(s.start_hour) AS start_hour,
    count(*) AS events,
    count(*) FILTER (WHERE list_contains($failure_results, e.result)) AS failures,
    count(*) FILTER (WHERE list_contains($export_actions, e.action)) AS exports,
    count(DISTINCT e.resource_id)
        FILTER (WHERE list_contains($broad_resource_types, e.resource_type)) AS resources
FROM local_events AS e
JOIN day_start AS s USING (actor_id)
GROUP BY e.actor_id, CAST(e.local_ts - to_hours(s.start_hour) AS DATE)
