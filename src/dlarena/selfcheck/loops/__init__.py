"""Hand-written training loops of the built-in `mlp` (256-256-256-128-10, SGD with momentum),
one per framework, written as a user would: no adapter, no spec, no dlarena timing code.

Each module is run as `python -m dlarena.selfcheck.loops.<framework>` in the framework's own
environment with the same threads and CPUs as dlarena's worker; `common` only reads the task and
the canonical weights and prints the block times.
"""
