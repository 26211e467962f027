"""Sources of audit events."""
