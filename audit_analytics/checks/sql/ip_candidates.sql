-- Distinct ip_address values that are not plain dotted-quad IPv4 text: validated in Python
-- (ipaddress), since DuckDB's inet extension is not available offline. The regex runs on
-- distinct values only, not on every event.
WITH distinct_ips AS (
    SELECT ip_address AS value, count(*) AS events, min(id) AS example_id
    FROM events
    WHERE ip_address IS NOT NULL
      AND "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
      AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
    GROUP BY ip_address
)
SELECT value, events, example_id
FROM distinct_ips
WHERE trim(value) <> ''
  AND NOT regexp_full_match(
      value,
      '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  )
