"""Training loops that log tidy metric rows through the run store."""
