"""The deal dossier (安心屋, SPEC §18.7)."""
