"""Time-driven changes of demands, registered with the sweeper (SPEC §17.6: expiry)."""
