-- Actors active in the checked window whose history (before the window's end) holds fewer
-- than $min_history_days actor-days: too little to learn their habits, so the baseline
-- checks do not judge them against a baseline and say so. The first $listed of them, fewest
-- days first, then by actor id; `total` counts them all.
SELECT actor_id, count(*) AS days, $min_history_days AS needed, count(*) OVER () AS total
FROM _aa_actor_days
GROUP BY actor_id
HAVING count(*) < $min_history_days
   AND max(timezone($tz, CAST(day + 1 AS TIMESTAMP) + to_hours(start_hour)))
       > coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
ORDER BY days, actor_id
LIMIT $listed
