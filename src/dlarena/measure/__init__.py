"""Timing protocol (worker side), parity metrics, and statistics (host side)."""
