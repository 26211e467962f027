-- log_access (PCI DSS 10.2.1.3): who read or exported the audit log itself, one row per
-- actor, actor type and local day (an id seen with two types is judged once per type);
-- the runner marks each row authorized or not against the policy.
SELECT
    actor_id,
    actor_type,
    CAST(timezone($tz, "timestamp") AS DATE) AS local_day,
    min("timestamp") AS window_start,
    max("timestamp") AS window_end,
    count(*) AS value,
    string_agg(DISTINCT action, ',' ORDER BY action) AS actions,
    string_agg(DISTINCT result, ',' ORDER BY result) AS results
FROM events
WHERE (list_contains($resource_types, resource_type) OR list_contains($actions, action)
       -- reads of the log's own files (GetObject on a trail's AWSLogs/ keys)
       OR (list_contains($object_actions, action)
           AND len(list_filter(CAST($log_resources AS VARCHAR[]),
                               lambda p: starts_with(resource_id, p))) > 0))
  AND "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
  AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
GROUP BY actor_id, actor_type, CAST(timezone($tz, "timestamp") AS DATE)
ORDER BY window_start, actor_id, actor_type
