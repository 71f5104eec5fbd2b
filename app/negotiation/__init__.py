"""Negotiated pricing (协议定价, SPEC §8): offers, counters, acceptance into a deal, expiry."""
