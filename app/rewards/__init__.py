"""Inventor reward plans (SPEC §12)."""
