"""The filing workflow (SPEC §18.6): CNIPA filings of transfer tasks and licence records."""
