"""Royalty reports (SPEC §18.4)."""
