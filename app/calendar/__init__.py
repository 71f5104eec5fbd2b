"""The working-day calendar as operators keep it current (SPEC §21)."""
