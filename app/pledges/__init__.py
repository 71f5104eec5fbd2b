"""Pledges of patent rights (SPEC §14)."""
