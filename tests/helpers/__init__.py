"""Shared test helpers: the family contract, files in real data formats, metric test doubles."""
