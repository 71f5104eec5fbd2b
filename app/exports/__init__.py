"""CSV exports for operators (SPEC §18.7): deals and patents."""
