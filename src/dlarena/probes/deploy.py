"""The deployment probes, host side: every export path of every framework (exports/), each in
its own worker process and environment, over the workloads asked for."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

from dlarena.codec import decode
from dlarena.frameworks import export_envs, export_paths
from dlarena.probes.host import ProbeFailed, run_worker
from dlarena.probes.records import DeployRecord, DeployTask
from dlarena.spec.loader import workload_label
from dlarena.spec.model import Workload

# framework -> its export paths, in the order they are tried (the worker holds their code),
# and the environments of exporters that conflict with the main one (made on demand)
ENVS = export_envs()
PATHS = export_paths()
CALLS = 10  # timed calls of each loaded artifact
# The ways out the comparison rates: portable (ONNX), serving, mobile/edge devices.
WAYS_OUT = ("portable", "serving", "devices")


def way_out(path: str) -> str:
    """Which way out a path is: ONNX is portable; ExecuTorch and LiteRT reach devices; the
    framework's own serialized formats serve. An int8 path is 'quantized': measured and shown
    beside the others (its latency, its difference from float32), never counted as a way out."""
    if "int8" in path:
        return "quantized"
    if path.startswith("onnx"):
        return "portable"
    if any(name in path for name in ("ExecuTorch", "LiteRT", "TFLite")):
        return "devices"
    return "serving"


def probe_path(
    framework: str, path: str, workloads: list[Workload], home: Path, threads: int
) -> list[DeployRecord]:
    """One record per workload; a path that cannot run at all is a named skip for each."""
    with tempfile.TemporaryDirectory(prefix="dlarena-export-") as folder:
        workloads_in = tuple(w.to_dict() for w in workloads)
        task = DeployTask(framework, path, workloads_in, folder, CALLS, threads)
        worker = "dlarena.probes.deploy_worker"
        env = ENVS.get((framework, path))
        try:
            lines = run_worker(framework, worker, task, home, threads, 1800.0, env)
            found = [decode(DeployRecord, line) for line in lines]
        except ProbeFailed as exc:
            found = [
                DeployRecord(framework, path, w.name, "skipped", w.content_hash, reason=str(exc))
                for w in workloads
            ]
    return [dataclasses.replace(r, workload=workload_label(r.workload, r.spec_hash)) for r in found]


def quick_paths(framework: str, home: Path) -> tuple[str, ...]:
    """One path per way out for the quick pass: the first of each way whose exporter is
    installed (the main environment's, or an on-demand one already made)."""
    from dlarena.runner import envs

    def installed(path: str) -> bool:
        env = ENVS.get((framework, path))
        return env is None or envs.get(env, home).exists()

    chosen: dict[str, str] = {}
    for path in filter(installed, PATHS[framework]):
        if way_out(path) in WAYS_OUT:
            chosen.setdefault(way_out(path), path)
    return tuple(chosen.values())


def probe_all(
    frameworks: list[str],
    workloads: list[Workload],
    home: Path,
    threads: int,
    on_progress: Callable[[str], None],
    quick: bool = False,
) -> list[DeployRecord]:
    """Every path of each framework over the workloads; `quick`: one path per way out."""
    records: list[DeployRecord] = []
    for framework in frameworks:
        for path in quick_paths(framework, home) if quick else PATHS[framework]:
            on_progress(f"deployment probes: {framework} {path}")
            records += probe_path(framework, path, workloads, home, threads)
    return records
