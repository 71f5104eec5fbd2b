"""Statistics (SPEC §15): turnover of settled deals, an organization's patents."""
