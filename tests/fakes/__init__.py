"""Adapters that misbehave on purpose, imported inside real worker processes by the tests."""
