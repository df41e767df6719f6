"""selfcheck: dlarena's throughput against hand-written loops (run.py on the host, loops/ in
each framework's environment). Nothing is imported here: the loops' package must stay light."""
