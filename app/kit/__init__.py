"""Shared building blocks: database, clock, money, working days, errors, pagination, security."""
