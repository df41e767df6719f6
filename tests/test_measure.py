"""The measurement protocol in real workers: processes in rounds, blocks, latency, thread
policies, a busy machine flagged, and the selfcheck against hand-written loops."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys

import pytest

from dlarena.measure import machine
from dlarena.records import Block, CellResult, MachineLoad
from dlarena.runner import envs
from dlarena.runner.matrix import plan, run_matrix
from dlarena.runner.process import worker_env
from dlarena.runner.run import MatrixRun
from dlarena.runner.threads import budget_cpus, candidates, fair, tune
from dlarena.selfcheck.run import Selfcheck
from dlarena.spec.loader import load_workload

pytestmark = pytest.mark.slow
HOME = envs.dlarena_home()


def mlp_cells(runtimes: list[str], modes: list[str]) -> list:
    return plan([load_workload("mlp")], runtimes, ["eager"], modes)


def test_each_cell_pools_its_processes_and_inference_cells_carry_latency(store, fast):
    protocol = dataclasses.replace(fast, processes=2, blocks=3, latency_s=0.05)
    seen = []
    cells = mlp_cells(["onnxruntime", "torch"], ["infer"])
    run_id = run_matrix(store, cells, protocol, HOME, {}, lambda c, r: seen.append(c.runtime))
    assert seen[:4] == ["onnxruntime", "torch", "onnxruntime", "torch"]  # rounds, interleaved
    for cell in store.cells(run_id, raw=True):
        assert cell.ranked and cell.summary is not None
        ran = len(cell.load)
        assert ran == 2 and seen.count(cell.runtime) == ran  # none run again (slow_reruns 0)
        assert cell.summary.processes >= 2 and cell.summary.blocks == 3 * cell.summary.processes
        assert {b.process for b in cell.blocks} == set(range(ran))
        assert [lat.batch_size for lat in cell.summary.latency] == [1, 64]
        assert cell.summary.latency[0].p50_ms > 0 and cell.memory and cell.memory.peak_rss_mb > 0
        assert cell.threading is not None
        assert cell.threading.label == "fair 2x1 on 2 cpus, malloc keep"
        assert cell.api == {"onnxruntime": "onnx", "torch": "nn.Module"}[cell.runtime]
        assert cell.environment.affinity == budget_cpus(2)
        assert ("OMP_NUM_THREADS", "2") in cell.environment.speed_env
        assert ("MALLOC_TRIM_THRESHOLD_", str(1 << 30)) in cell.environment.speed_env
        assert all(load.minor_faults is not None and load.minor_faults >= 0 for load in cell.load)


def test_tuned_threading_sweeps_the_knobs_and_records_the_choice(store, fast):
    protocol = dataclasses.replace(fast, threading="tuned", malloc="system")
    run_id = run_matrix(store, mlp_cells(["torch"], ["train"]), protocol, HOME, {}, print)
    (cell,) = store.cells(run_id)
    assert cell.ranked and cell.threading is not None and cell.threading.policy == "tuned"
    tried = [label for label, _ in cell.threading.sweep]
    assert tried == [c.label for c in candidates("torch", 2, "system")]
    assert cell.threading.label.endswith("malloc system")
    assert not [name for name, _ in cell.environment.speed_env if name.startswith("MALLOC_")]
    assert all(throughput > 0 for _, throughput in cell.threading.sweep)
    assert cell.environment.setup is not None
    assert cell.environment.setup.intra_op_threads == cell.threading.intra_op


def test_tuned_keeps_the_fair_setting_unless_another_clearly_beats_it():
    settings = candidates("torch", 2)
    (other,) = [s for s in settings if (s.intra_op, s.inter_op) == (1, 1)]
    rates = {s.label: 100.0 for s in settings}

    def knobs_chosen(rate: float) -> tuple[int, int]:
        chosen = tune("torch", 2, lambda s: {**rates, other.label: rate}[s.label])
        assert [label for label, _ in chosen.sweep] == list(rates)
        return chosen.intra_op, chosen.inter_op

    assert knobs_chosen(104.0) == (fair(2).intra_op, 1)  # within a trial's noise
    assert knobs_chosen(110.0) == (1, 1)


HOG = "import os, sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1:]})\nwhile True: pass"


def test_a_cell_measured_beside_a_cpu_hog_is_flagged_machine_busy(store, fast):
    cpus = [str(c) for c in budget_cpus(2)]
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, *cpus]) for _ in range(len(cpus))]
    try:
        protocol = dataclasses.replace(fast, blocks=4, min_block_s=0.3)
        run_id = run_matrix(store, mlp_cells(["onnxruntime"], ["infer"]), protocol, HOME, {}, print)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    (cell,) = store.cells(run_id)
    assert "machine_busy" in cell.warning_codes, cell.warnings
    assert cell.load[0].other_share > 0.2


def test_selfcheck_measures_both_loops_on_the_same_cpus():
    (row,) = Selfcheck(HOME, fair(2), rounds=2, blocks=2).run(["torch"], ["eager"])
    assert row.error is None and row.threading == "fair 2x1 on 2 cpus, malloc keep"
    assert row.dlarena_samples_per_s > 0 and row.hand_samples_per_s > 0
    assert row.comparison.ci_low <= row.overhead_ratio <= row.comparison.ci_high
    # the two took turns: the ratio is read turn by turn, over two pairs of processes
    assert row.comparison.paired and row.comparison.processes == 2


def test_selfcheck_names_a_loop_that_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DLARENA_ENVS", str(tmp_path / "no-envs"))
    (row,) = Selfcheck(tmp_path / "no-home", fair(2), 1, 2).run(["mxnet"], ["eager"])
    assert row.error is not None and "dlarena envs create mxnet" in row.error


def test_runs_compare_cell_by_cell_and_refuse_other_environments(store, fast):
    from dlarena.errors import DlarenaError
    from dlarena.measure.compare import compare_runs

    cells = mlp_cells(["onnxruntime"], ["infer"])
    protocol = dataclasses.replace(fast, blocks=4)
    first, second = (run_matrix(store, cells, protocol, HOME, {}, print) for _ in range(2))
    rows, geomean = compare_runs(store.cells(first, raw=True), store.cells(second, raw=True))
    (row,) = rows
    assert row.key == "mlp/onnxruntime/eager/infer" and geomean == pytest.approx(
        row.comparison.ratio
    )
    # B over A, from each run's stored blocks (one process each: the median block throughput)
    per_block = [
        [64 / b.step_s for b in store.cells(run, raw=True)[0].blocks] for run in (first, second)
    ]
    assert row.comparison.ratio == pytest.approx(
        statistics.median(per_block[1]) / statistics.median(per_block[0])
    )
    # two runs never take turns: their blocks are compared unpaired, p and CI from one bootstrap
    assert not row.comparison.paired
    assert row.comparison.ci_low <= row.comparison.ratio <= row.comparison.ci_high
    excludes_one = not row.comparison.ci_low <= 1.0 <= row.comparison.ci_high
    assert excludes_one == (row.comparison.p_value < 0.05)
    narrow = run_matrix(store, cells, dataclasses.replace(protocol, threads=1), HOME, {}, print)
    with pytest.raises(DlarenaError, match="CPUs allowed 2 vs 1.*pass --force"):
        compare_runs(store.cells(first, raw=True), store.cells(narrow, raw=True))
    assert compare_runs(store.cells(first, raw=True), store.cells(narrow, raw=True), force=True)[0]


def test_repeated_runs_give_each_cells_spread(store, fast):
    from dlarena.errors import DlarenaError
    from dlarena.measure.compare import run_spread

    cells = mlp_cells(["onnxruntime"], ["infer"])
    first, second = (run_matrix(store, cells, fast, HOME, {}, print) for _ in range(2))
    (row,) = run_spread([store.cells(first), store.cells(second)])
    a, b = (store.cells(run)[0].samples_per_s for run in (first, second))
    assert row.key == "mlp/onnxruntime/eager/infer" and row.values == (a, b)
    assert row.cv == pytest.approx(abs(a - b) / (a + b))  # two values: half the gap over the mean
    narrow = run_matrix(store, cells, dataclasses.replace(fast, threads=1), HOME, {}, print)
    with pytest.raises(DlarenaError, match="CPUs allowed 2 vs 1.*pass --force"):
        run_spread([store.cells(first), store.cells(second), store.cells(narrow)])
    with pytest.raises(DlarenaError, match="two or more runs"):
        run_spread([store.cells(first)])


def test_each_cell_reads_its_utilization_against_the_runs_gemm_peak(store, fast):
    run_id = run_matrix(store, mlp_cells(["onnxruntime"], ["infer"]), fast, HOME, {}, print)
    peak = store.run_info(run_id).config.peak_gflops
    (cell,) = store.cells(run_id)
    assert peak > 0 and cell.summary is not None
    assert cell.summary.gflops == pytest.approx(
        21_217_920 * cell.samples_per_s / 64 / 1e9
    )  # the spec's FLOPs per inference step at batch 64, times steps per second
    assert cell.summary.peak_fraction == pytest.approx(cell.summary.gflops / peak)


def probed(probe: float | None, threads: int = 2, runtime: str = "torch") -> CellResult:
    load = MachineLoad(0.0, 0.0, 0.1, 0.1, probe_gflops=probe)
    return CellResult("mlp", runtime, "eager", "train", "ok", load=(load,), threading=fair(threads))


def test_a_process_in_a_slow_stretch_is_flagged_against_the_runs_best_probe(store, fast) -> None:
    guard = machine.SlowGuard()
    assert guard.slowdown(("torch", 2), [100.0]) == 1.0
    assert guard.slowdown(("torch", 2), [90.0]) == pytest.approx(0.9)  # within the normal spread
    assert guard.slowdown(("torch", 2), [70.0, 100.0]) == pytest.approx(0.7)  # run again
    assert guard.slowdown(("torch", 1), [50.0]) == 1.0  # its own thread count's best
    assert guard.slowdown(("onnxruntime", 2), [80.0]) == 1.0  # and its own runtime's
    assert guard.slowdown(("torch", 2), []) == 1.0  # stored before probes: unknown


def processes(*probes: float, seconds: float = 0.01) -> CellResult:
    """A torch mlp cell of one block per process: process k probed `probes[k]` GFLOP/s."""
    blocks = tuple(Block(k, 10, seconds * (1 + k)) for k in range(len(probes)))
    loads = tuple(MachineLoad(0.0, 0.0, 0.1, 0.1, probe_gflops=p) for p in probes)
    return CellResult(
        "mlp", "torch", "eager", "train", "ok", blocks=blocks, load=loads, threading=fair(2)
    )


def test_a_slow_stretch_process_is_left_out_once_enough_others_remain(store, fast) -> None:
    protocol = dataclasses.replace(fast, processes=2)
    run = MatrixRun(
        store, 0, protocol, HOME, {}, None, slow=machine.SlowGuard({("torch", 2): 100.0})
    )
    (cell,) = mlp_cells(["torch"], ["train"])
    assert run.slow_processes(processes(100.0, 70.0, 95.0)) == {1}
    assert not run.short(processes(100.0, 95.0)) and run.short(processes(100.0, 70.0))
    assert run.settle(cell, processes(100.0, 95.0), {}) == processes(100.0, 95.0)  # untouched
    settled = run.settle(cell, processes(100.0, 70.0, 95.0), {})  # process 1: 20 ms/step
    assert settled.summary is not None and settled.summary.processes == 2
    assert settled.summary.median_ms == pytest.approx(2.0)  # processes 0 and 2: 1 and 3 ms
    assert "machine_slow" not in settled.warning_codes and len(settled.blocks) == 3  # all kept
    short = run.settle(cell, processes(100.0, 70.0), {})  # no other to replace it with
    assert short.summary is not None and short.summary.processes == 2
    (warning,) = [w for w in short.warnings if w.startswith("machine_slow")]
    assert warning.startswith("machine_slow: a float32 GEMM probe on this cell's CPUs ran at 70%")


def test_slow_stretch_processes_are_made_up_at_the_end_of_the_run(store, fast) -> None:
    protocol = dataclasses.replace(fast, processes=2, slow_reruns=machine.PROBE_RETRIES)
    run = MatrixRun(
        store, 0, protocol, HOME, {}, None, slow=machine.SlowGuard({("torch", 2): 100.0})
    )
    cells = mlp_cells(["torch"], ["train"]) * 2
    made: list[int] = []

    def measure(cell, setting, index, before, sha, peak) -> CellResult:  # one process more
        made.append(index)
        probe = [70.0, 99.0][len(made) - 1]  # the first make-up is slow too
        more = processes(*before.probes, probe)
        return dataclasses.replace(more, reruns=before.reruns)

    run.measure = measure  # type: ignore[method-assign]
    results = {0: processes(100.0, 60.0), 1: processes(100.0, 98.0)}
    made_up = list(run.make_up(cells, results, None, {}))
    assert [i for i, _ in made_up] == [0, 0] and made == [2, 3]  # cell 1 has two fast ones
    assert results[0] is made_up[-1][1] and results[0].probes == [100.0, 60.0, 70.0, 99.0]
    assert results[0].reruns == 2 and not run.short(results[0])
    quick = MatrixRun(store, 0, fast, HOME, {}, None, slow=machine.SlowGuard({("torch", 2): 100.0}))
    quick.measure = measure  # type: ignore[method-assign]
    slow = {0: processes(60.0)}
    assert quick.short(slow[0]) and list(quick.make_up(cells, slow, None, {})) == []
    assert len(made) == 2  # one process per cell (quick): no make-up, the spread is stated
    guard = machine.SlowGuard({("torch", 2): 100.0})
    kept = MatrixRun(
        store, 0, dataclasses.replace(protocol, slow_reruns=0), HOME, {}, None, slow=guard
    )
    kept.measure = measure  # type: ignore[method-assign]
    assert kept.short(slow[0]) and list(kept.make_up(cells, slow, None, {})) == []
    assert len(made) == 2  # slow_reruns 0: every process kept as measured


def test_a_slow_process_is_run_again_at_most_twice_and_the_reruns_are_counted() -> None:
    guard = machine.SlowGuard({"k": 100.0})
    probes = iter([60.0, 95.0])
    result, reruns = guard.steady(lambda: probed(next(probes)), "k")
    assert result.probes == [95.0] and reruns == 1
    always_slow = iter([50.0, 60.0, 70.0, 99.0])
    result, reruns = guard.steady(lambda: probed(next(always_slow)), "k")
    assert result.probes == [70.0] and reruns == machine.PROBE_RETRIES  # the last, slow or not
    failed = guard.steady(lambda: probed(None), "k")
    assert failed[0].probes == [] and failed[1] == 0  # failed: nothing probed, not rerun
    first = iter([70.0, 100.0])  # a run that starts in a slow stretch
    result, reruns = machine.SlowGuard().steady(lambda: probed(next(first)), "k", calibrate=True)
    assert result.probes == [100.0] and reruns == 1  # measured twice, the faster one kept
    once = iter([50.0, 99.0])
    result, reruns = machine.SlowGuard().steady(lambda: probed(next(once)), "k", True, retries=0)
    assert result.probes == [50.0] and reruns == 0  # retries 0: kept as measured, not calibrated


def test_the_gemm_probe_measures_the_machine() -> None:
    assert 0.1 < machine.gemm_probe(seconds=0.05) < 1e5  # GFLOP/s, whatever the machine


# A step that takes two 40 MiB buffers and frees them: over glibc's largest dynamic mmap
# threshold (32 MiB), so by default every step maps fresh pages and faults each one in. THREADED
# runs the steps in a thread of its own: its arena's second heap empties, and glibc unmaps it.
STEP = (
    "import numpy as np\nfrom dlarena.measure import machine\n"
    "def step():\n    a, b = np.ones(40 << 20, np.uint8), np.ones(40 << 20, np.uint8)\n"
    "    del a, b\n"
    "def steps(out):\n    step(); before = machine.minor_faults()\n"
    "    for _ in range(10): step()\n    out.append((machine.minor_faults() - before) / 10)\n"
)
STEPS = STEP + "out = []\nsteps(out)\nprint(out[0])"
THREADED = (
    STEP + "import threading\nout = []\nt = threading.Thread(target=steps, args=(out,))\n"
    "t.start(); t.join()\nprint(out[0])"
)


def faults_per_step(malloc: str, program: str = STEPS) -> float:
    env = worker_env(fair(2, malloc))
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def test_malloc_keep_leaves_a_worker_no_page_faults_that_the_c_library_default_takes():
    system, keep = faults_per_step("system"), faults_per_step("keep")
    assert system > 100 and keep < system / 10, (system, keep)
    # a thread's own heap, emptied at the end of each step, stays mapped too
    system, keep = faults_per_step("system", THREADED), faults_per_step("keep", THREADED)
    assert system > 100 and keep < system / 10, (system, keep)
    # torch cnn under the default: 2,000 faults a step of 10 ms
    load = MachineLoad(0.0, 0.0, 0.1, 0.1, minor_faults=2000 * 20)
    warning = machine.fault_warning([load], steps=20, step_s=0.01, malloc="system")
    assert warning is not None and warning.startswith("page_faults")
    assert "measure with --malloc keep" in warning
    # a framework that maps memory itself faults whatever glibc keeps
    warning = machine.fault_warning([load], steps=20, step_s=0.01, malloc="keep")
    assert warning is not None and "the framework maps and unmaps memory itself" in warning
    quiet = dataclasses.replace(load, minor_faults=int(keep) * 20)
    assert machine.fault_warning([quiet], 20, 0.01, "keep") is None
    unknown = dataclasses.replace(load, minor_faults=None)
    assert machine.fault_warning([unknown], 20, 0.01, "system") is None


# Run alone: the test process keeps freed memory resident (the host's references set glibc to
# keep it), so a new array there reuses pages and its peak would not move.
PEAK_SCRIPT = """
import json, sys, time
import numpy as np
from dlarena.measure import machine
if sys.argv[1] == "sampled":  # a kernel without the reset: a thread samples instead
    real = machine.Path.write_text
    def refuse(self, data, *args, **kwargs):
        if self.name == "clear_refs":
            raise PermissionError("no reset here")
        return real(self, data, *args, **kwargs)
    machine.Path.write_text = refuse
before = np.ones(40_000_000)  # 320 MB held and freed before the stretch
del before
with machine.RssPeak() as rss:
    start = rss.peak_kb
    held = np.ones(20_000_000)  # 160 MB, every page touched
    time.sleep(0.2)  # long enough for a sampler to see it
    del held
print(json.dumps([start, rss.peak_kb, rss._thread is None]))
"""


@pytest.mark.parametrize("way", ("high-water mark", "sampled"))
def test_the_peak_rss_of_a_stretch_is_what_it_held_and_not_what_came_before(way):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    found = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, way], capture_output=True, text=True, env=env
    )
    assert found.returncode == 0, found.stderr
    start, peak, reset = json.loads(found.stdout)
    assert 150_000 < peak - start < 250_000  # the freed 320 MB is not this stretch's peak
    assert reset == (way == "high-water mark")
