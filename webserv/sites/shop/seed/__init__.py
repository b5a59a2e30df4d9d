"""Deterministic generator of the shop's golden data dir (``shop.db`` + ``media/``)."""

from webserv.sites.shop.seed.generate import SeedSummary, seed

__all__ = ["SeedSummary", "seed"]
