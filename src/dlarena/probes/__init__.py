"""Probes: what the comparison rates with stars, measured. `debug`: the mistakes people make,
made on purpose in each framework and tier, and how each framework tells them."""
