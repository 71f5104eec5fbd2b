"""Payment, settlement, certificates, transfer tasks and licence records (SPEC §11)."""
