"""Technology demands (SPEC §17.6): what enterprises seek, review, expiry, responses and two-way matching."""
