"""The local, read-only dashboard over the store: runs, one run, two runs compared, one
framework's history and the evidence, as pages and as a JSON API under /api."""
