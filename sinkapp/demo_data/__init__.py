"""Fixtures of the product walkthrough, shipped for `sinkapp demo`."""
