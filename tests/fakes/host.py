"""The dlarena command line with three more runtimes: 'numpy' (tests/fakes/base.py, the float64
reference as an adapter), 'broken' and 'sleepy'. A real host whose real workers need no
framework, for tests that kill and resume whole runs. Its --quick is brief (BRIEF below)."""

from __future__ import annotations

import dataclasses

from dlarena.cli import main
from dlarena.frameworks import RUNTIMES
from dlarena.runner.matrix import PROFILES

# One short measurement per process: the runs these hosts make check behaviour, never speed
# (as tests/conftest.py's FAST; three blocks and a little latency here, for the pages that
# chart them); --quick here is that brief protocol.
BRIEF = {"warmup": 1, "blocks": 3, "min_block_s": 0.0, "min_block_steps": 2, "latency_s": 0.05}
PROFILES["quick"] = {**PROFILES["quick"], **BRIEF}

RUNTIMES["numpy"] = dataclasses.replace(
    RUNTIMES["onnxruntime"],
    name="numpy",
    display="NumPy reference",
    module="tests.fakes.base",
    framework_module="numpy",
    distribution="numpy",
    api="numpy",
)

# A runtime whose adapter module does not exist: every cell of it fails in its worker.
RUNTIMES["broken"] = dataclasses.replace(
    RUNTIMES["numpy"], name="broken", module="tests.fakes.no_such_adapter"
)

# A runtime whose models never finish building, as a deadlocked framework's would.
RUNTIMES["sleepy"] = dataclasses.replace(
    RUNTIMES["numpy"], name="sleepy", module="tests.fakes.sleepy"
)

if __name__ == "__main__":
    main()
