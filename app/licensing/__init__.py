"""Open licensing (SPEC §13)."""
