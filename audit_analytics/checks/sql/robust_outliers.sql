-- Actor-days whose {{metric}} lies far above the actor's own baseline; shared by
-- volume_spike (events), broad_access (distinct watched resources: record snooping) and
-- bulk_export (exports). {{metric}} is a column of _aa_actor_days named by the declaration.
-- baseline = median of the actor's active days; spread = max(1.4826 * MAD, floor * median);
-- threshold = max(median + k * spread, median + absolute_floor, p90_factor * p90, min_value):
-- the p90 term keeps actors with uneven days quiet, min_value sets an absolute minimum.
-- Actor-days start at the actor's quietest hour.
WITH baseline AS (
    SELECT
        actor_id,
        median({{metric}}) AS median,
        mad({{metric}}) AS mad,
        quantile_cont({{metric}}, 0.9) AS p90,
        count(*) AS days
    FROM _aa_actor_days
    GROUP BY actor_id
),
scored AS (
    SELECT
        d.actor_id,
        d.day,
        d.start_hour,
        d.{{metric}} AS value,
        d.events,
        b.median AS baseline,
        b.mad,
        b.p90,
        b.days AS baseline_days,
        greatest(
            b.median + $k * greatest(1.4826 * b.mad, $relative_floor * b.median),
            b.median + $absolute_floor,
            $p90_factor * b.p90,
            $min_value
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
    events,
    baseline,
    round(threshold, 1) AS threshold,
    mad,
    p90,
    baseline_days
FROM scored
WHERE value > threshold
  AND timezone($tz, CAST(day + 1 AS TIMESTAMP) + to_hours(start_hour))
      > coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
ORDER BY value / greatest(threshold, 1) DESC, actor_id, day
