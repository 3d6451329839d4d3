"""Report tables are derived from the Event log and can be rebuilt from it."""
