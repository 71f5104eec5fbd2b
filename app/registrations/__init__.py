"""Registrations for listed and auction listings, with their deposits (SPEC §7), and the resolution of such
listings at the end of their listing period (SPEC §9, §5)."""
