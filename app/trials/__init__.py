"""Trial licences 先使用后付费 (SPEC §18.3)."""
