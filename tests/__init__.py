"""dlarena's test suite.

Its processes run side by side on the machine's CPUs (`make test` starts one more than there are
CPUs). NumPy work in them and in the commands they start (the float64 references of the parity
gate and the convergence envelope) uses one BLAS thread: OpenBLAS's threads spin while they wait
for a CPU another process holds (the language model's float64 run took 8.3 CPU-s with two
threads beside two busy processes, 1.7 with one). Set here, before anything imports NumPy;
dlarena's worker processes get their own thread settings from its launcher.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
