"""The worker: read one task as JSON on stdin, run it in one framework, stream JSON lines.

Runs inside the framework's own environment and imports only the standard library, numpy, the
spec, the records and that one framework. Lines written to stdout (see records.py for the
protocol's format history): {"event": "progress" | "parity" | "result" | "error",
"protocol": N, ...}. Everything else (framework chatter, even from C) goes to stderr.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena import events, twin
from dlarena.codec import decode, encode
from dlarena.frameworks.base import InferenceAdapter, TrainingAdapter
from dlarena.measure import machine, parity, timing
from dlarena.records import (
    Block,
    Environment,
    MachineLoad,
    Memory,
    Phases,
    Setup,
    WorkerResult,
    WorkerTask,
)
from dlarena.spec.model import Workload

SPEED_ENV = (
    *("OMP_", "MKL_", "OPENBLAS_", "KMP_", "XLA_", "TF_", "PJRT_", "MXNET_", "CUDA_"),
    *("MALLOC_", "GLIBC_TUNABLES", "LD_PRELOAD"),
)


def environment(setup: Setup, threads: int) -> Environment:
    return Environment(
        setup=setup,
        cpu_model=machine.cpu_model(),
        affinity=tuple(sorted(os.sched_getaffinity(0))),
        speed_env=tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(SPEED_ENV))),
        python=platform.python_version(),
        numpy=np.__version__,
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        threads=threads,
        executable=sys.executable,
    )


def timing_batches(ref: dict[str, Any], count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The parity batch first, then rolled copies: steps cycle over distinct pre-placed data."""
    x, y = ref["x"], ref["y"]
    shift = max(1, len(x) // count)
    return [(np.roll(x, i * shift, axis=0), np.roll(y, i * shift, axis=0)) for i in range(count)]


def build(
    task: WorkerTask,
) -> tuple[InferenceAdapter, Workload, Setup, dict[str, Any], Phases]:
    """Import the framework, configure it, build the model."""
    events.emit("progress", phase="import")
    start = time.perf_counter()
    adapter_cls = twin.import_adapter(task.module)
    setup = adapter_cls.configure(task.threading.intra_op, task.threading.inter_op, task.device)
    import_s = time.perf_counter() - start

    events.emit("progress", phase="build")
    workload = Workload.from_dict(task.workload)
    ref = twin.load_reference(task.reference, task.mode == "train")
    start = time.perf_counter()
    adapter = twin.build_twin(adapter_cls, workload, ref, task.tier, task.mode, setup)
    return adapter, workload, setup, ref, Phases(import_s, time.perf_counter() - start)


def measure_latency(adapter: InferenceAdapter, task: WorkerTask, ref: dict[str, Any]) -> list:
    """Per-call latency at batch 1 and at the workload's batch, each call synchronized."""
    out = []
    for size in sorted({1, len(ref["x"])}):
        batch = adapter.prepare(ref["x"][:size], ref["y"][:size])
        call = functools.partial(adapter.infer, batch)
        timing.warm_up(adapter.infer, adapter.sync, [batch], task.warmup)
        out.append((size, tuple(timing.latencies(call, adapter.sync, task.latency_s))))
    return out


def run(task: WorkerTask) -> None:
    clock = timing.StageClock()
    adapter, workload, setup, ref, phases = build(task)
    clock.add("import", phases.import_s or 0.0)
    clock.add("build", phases.build_s or 0.0)
    events.emit("progress", phase="parity")
    bounds = parity.tolerances(workload)
    training = isinstance(adapter, TrainingAdapter) and task.mode == "train"
    first_call_s: float | None = None
    if isinstance(adapter, TrainingAdapter) and training:
        trainer = adapter
        # at the timed batch's rows, unless dropout is switched on after: that graph is not timed
        rows = None if workload.has_dropout else len(ref["x"])
        first_call_s, checks = clock.run(
            "parity", lambda: twin.check_training(trainer, ref, bounds, rows)
        )
        if workload.has_dropout:
            adapter_cls = type(adapter)
            del adapter, trainer  # one model in memory at a time
            dropped = functools.partial(twin.with_dropout, adapter_cls, workload, task, setup)
            adapter = clock.run("build", dropped)
    batches = [adapter.prepare(x, y) for x, y in timing_batches(ref, task.batches)]
    if isinstance(adapter, TrainingAdapter) and training:
        call = adapter.train_step
        if first_call_s is None:
            first_call_s = timing.timed(lambda: call(batches[0]), adapter.sync)[0]
        else:
            clock.add("parity", -first_call_s)  # parity's first step was the first call
    else:
        infer = adapter
        first_call_s, checks = clock.run(
            "parity", lambda: twin.check_forward(infer, batches[0], ref, bounds)
        )
        call = adapter.infer
        clock.add("parity", -first_call_s)  # the check's call was the first: counted apart
    clock.add("first_call", first_call_s)
    events.emit("parity", checks=encode(checks))
    measured = measure(task, clock, adapter, call, batches, ref, training)
    result = WorkerResult(
        environment=environment(setup, task.threading.intra_op),
        phases=Phases(
            phases.import_s,
            phases.build_s,
            first_call_s,
            measured.warmup,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            stages=clock.items(),
        ),
        blocks=measured.blocks,
        latency=measured.latency,
        load=measured.load,
        memory=Memory(measured.peak_rss_mb, adapter.allocator_peak_mb()),
    )
    events.emit("result", result=encode(result))


@dataclasses.dataclass(frozen=True)
class Measured:
    warmup: tuple[float, ...]
    blocks: tuple[Block, ...]
    latency: tuple[tuple[int, tuple[float, ...]], ...]
    load: MachineLoad
    peak_rss_mb: float


def measure(
    task: WorkerTask,
    clock: timing.StageClock,
    adapter: InferenceAdapter,
    call: Any,
    batches: list[Any],
    ref: dict[str, Any],
    training: bool,
) -> Measured:
    """Warm-up, block calibration, the GEMM probes around the timed blocks, and latency; each
    counted to its stage. Paired (`task.paired`): the timed blocks come one per command."""
    keep_all = not training
    warmup, steps, probe_before = warm(task, clock, adapter, call, batches, keep_all)

    def timed_block(round: int | None = None) -> Block:
        seconds = timing.block(call, adapter.sync, batches, steps, keep_all)
        return Block(task.process, steps, seconds, round)

    faults = machine.minor_faults()
    with machine.RssPeak() as rss:
        if task.paired:
            step = functools.partial(call, batches[0])
            blocks, spans = take_turns(clock, timed_block, step, adapter.sync, steps)
        else:
            before = machine.snapshot()
            blocks = clock.run("timed", lambda: tuple(timed_block() for _ in range(task.blocks)))
            spans = [(before, machine.snapshot())]
        faults = machine.minor_faults() - faults
        latency = (
            () if training else clock.run("latency", lambda: measure_latency(adapter, task, ref))
        )
    probe = min(probe_before, clock.run("probe", machine.gemm_probe))
    load = dataclasses.replace(machine.load_over(spans), probe_gflops=probe, minor_faults=faults)
    return Measured(tuple(warmup), blocks, tuple(latency), load, rss.peak_kb / 1024.0)


def warm(
    task: WorkerTask,
    clock: timing.StageClock,
    adapter: InferenceAdapter,
    call: Any,
    batches: list[Any],
    keep_all: bool,
) -> tuple[list[float], int, float]:
    """Warm-up calls, steps per block (from them, or a trial block), and the GEMM probe before
    the blocks."""
    events.emit("progress", phase="warmup")
    warmup = clock.run("warmup", lambda: timing.warm_up(call, adapter.sync, batches, task.warmup))
    sizing = (task.min_block_s, task.min_block_steps, keep_all, task.steps_within_s, warmup)
    steps = clock.run("warmup", lambda: timing.calibrate(call, adapter.sync, batches, *sizing))
    # The probe's BLAS threads spin on the worker's CPUs for a while after it: a full block,
    # untimed, after the probe (the first timed block ran 10-20% slow when it came first)
    probe_before = clock.run("probe", machine.gemm_probe)
    clock.run("warmup", lambda: timing.block(call, adapter.sync, batches, steps, keep_all))
    events.emit("progress", phase="measure")
    return warmup, steps, probe_before


def take_turns(
    clock: timing.StageClock,
    timed_block: Callable[[int], Block],
    step: Callable[[], Any],
    sync: timing.Sync,
    steps: int,
) -> tuple[tuple[Block, ...], list[tuple[machine.Snapshot, machine.Snapshot]]]:
    """Paired isolation: say "ready" (with the steps per block), then time one block per
    {"do": "block", "round": R} line the host writes (after half a block untimed: another
    worker ran since, and its first steps after that ran slow), until {"do": "finish"} or the
    end of stdin. Idle between commands: the other workers of the group take turns."""
    blocks: list[Block] = []
    spans = []
    rewarm = max(1, steps // 2)  # the first steps after another worker's turn run slow
    events.emit("ready", steps=steps)
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] != "block":
            break
        round = int(command["round"])
        clock.run("warmup", lambda: timing.warm_up(lambda _: step(), sync, [None], rewarm))
        before = machine.snapshot()
        blocks.append(clock.run("timed", functools.partial(timed_block, round)))
        spans.append((before, machine.snapshot()))
        events.emit("turn", seconds=blocks[-1].seconds, round=blocks[-1].round)
    if not blocks:
        raise RuntimeError("the host ended the turns before any block was timed")
    return tuple(blocks), spans


def main() -> None:
    events.keep_stdout_for_events()
    try:
        task = decode(WorkerTask, json.loads(sys.stdin.readline()))
        run(task)
    except Exception as exc:
        events.emit("error", type=type(exc).__name__, message=str(exc))
        raise
    events.finish()


if __name__ == "__main__":
    main()
