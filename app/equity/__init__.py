"""Patents as equity (作价入股, SPEC §18.2)."""
