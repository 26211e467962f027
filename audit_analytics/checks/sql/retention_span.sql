-- retention_coverage, span: the oldest and newest event of the whole log (not the window):
-- retention concerns everything kept.
SELECT min("timestamp") AS oldest, max("timestamp") AS newest, count(*) AS events
FROM events
