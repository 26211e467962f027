-- broad_access: distinct resources (of the watched types) one actor touched in one actor-day,
-- far above the actor's own baseline: record snooping. Same robust rule as volume_spike.
WITH baseline AS (
    SELECT
        actor_id,
        median(resources) AS median,
        mad(resources) AS mad,
        quantile_cont(resources, 0.9) AS p90,
        count(*) AS days
    FROM _aa_actor_days
    GROUP BY actor_id
),
scored AS (
    SELECT
        d.actor_id,
        d.day,
        d.start_hour,
        d.resources AS value,
        d.events,
        b.median AS baseline,
        b.mad,
        b.p90,
        b.days AS baseline_days,
        greatest(
            b.median + $k * greatest(1.4826 * b.mad, $relative_floor * b.median),
            b.median + $absolute_floor,
            $p90_factor * b.p90
        ) AS threshold
    FROM _aa_actor_days AS d
    JOIN baseline AS b USING (actor_id)
    WHERE b.days >= $min_history_days
)
SELECT
    actor_id,
    timezone($tz, CAST(day AS TIMESTAMP) + to_hours(start_hour)) AS window_start,
    timezone($tz, CAST(day + 1 AS TIMESTAMP) + to_hours(start_hour)) AS window_end,
    day AS local_day,
    start_hour AS day_starts_at_hour,
    value,
    baseline,
    round(threshold, 1) AS threshold,
    mad,
    p90,
    events,
    baseline_days
FROM scored
WHERE value > threshold
  AND timezone($tz, CAST(day + 1 AS TIMESTAMP) + to_hours(start_hour))
      > coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
ORDER BY value / greatest(threshold, 1) DESC, actor_id, day
