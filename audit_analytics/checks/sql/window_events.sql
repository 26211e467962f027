-- Events inside the checked window (an empty window is reported, never a silent pass).
SELECT count(*)
FROM events
WHERE "timestamp" >= coalesce($since::TIMESTAMPTZ, '-infinity'::TIMESTAMPTZ)
  AND "timestamp" < coalesce($until::TIMESTAMPTZ, 'infinity'::TIMESTAMPTZ)
