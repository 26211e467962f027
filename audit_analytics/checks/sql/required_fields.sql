-- required_fields (PCI DSS 10.2.2): required fields that are null or blank, and values
-- outside the allowed sets (e.g. the seed's middlewares write actor_type 'anonymous').
-- IP addresses are validated afterwards on distinct values (ip_candidates.sql).
WITH scoped AS NOT MATERIALIZED (
    SELECT *
    FROM events
    WHERE ("timestamp" IS NULL
           OR ("timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
               AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)))
),
blank AS (
    SELECT
        count(*) FILTER (WHERE id IS NULL OR trim(id) = '') AS "id",
        count(*) FILTER (WHERE "timestamp" IS NULL) AS "timestamp",
        count(*) FILTER (WHERE actor_id IS NULL OR trim(actor_id) = '') AS actor_id,
        count(*) FILTER (WHERE actor_type IS NULL OR trim(actor_type) = '') AS actor_type,
        count(*) FILTER (WHERE action IS NULL OR trim(action) = '') AS action,
        count(*) FILTER (WHERE resource_type IS NULL OR trim(resource_type) = '')
            AS resource_type,
        count(*) FILTER (WHERE resource_id IS NULL OR trim(resource_id) = '') AS resource_id,
        count(*) FILTER (WHERE result IS NULL OR trim(result) = '') AS result,
        count(*) FILTER (WHERE ip_address IS NULL OR trim(ip_address) = '') AS ip_address,
        count(*) FILTER (WHERE user_agent IS NULL OR trim(user_agent) = '') AS user_agent,
        count(*) FILTER (WHERE session_id IS NULL OR trim(session_id) = '') AS session_id
    FROM scoped
),
missing AS (
    UNPIVOT blank ON COLUMNS(*) INTO NAME field VALUE events
)
SELECT field, 'missing' AS problem, CAST(NULL AS VARCHAR) AS value, events,
       CAST(NULL AS VARCHAR) AS example_id
FROM missing
WHERE events > 0 AND list_contains($fields, field)
UNION ALL
SELECT 'actor_type', 'outside_allowed_set', actor_type, count(*), min(id)
FROM scoped
WHERE trim(actor_type) <> '' AND NOT list_contains($actor_types, actor_type)
GROUP BY actor_type
UNION ALL
SELECT 'result', 'outside_allowed_set', result, count(*), min(id)
FROM scoped
WHERE trim(result) <> '' AND NOT list_contains($results, result)
GROUP BY result
ORDER BY field, problem, value
