"""Where a cell's worker processes run: on this machine (the default), or on the workers of a
Dask distributed cluster, one cell per worker at a time (the resource CPU=1, or GPU=1 for GPU
cells), each in that machine's own environments. Results come back here and go into the one
store as they arrive."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

from dlarena.errors import DlarenaError
from dlarena.records import CellResult, WorkerTask
from dlarena.runner import envs
from dlarena.runner.cell import Cell, OnPhase, run_process


class Executor(Protocol):
    width: int  # cells measured at once

    def run(
        self,
        cell: Cell,
        task: WorkerTask,
        env_overrides: dict[str, str],
        timeout_s: float,
        on_phase: OnPhase | None,
    ) -> CellResult: ...

    def close(self) -> None: ...


@dataclasses.dataclass
class LocalExecutor:
    """One worker process at a time, on this machine."""

    home: Path
    width: int = 1

    def run(
        self,
        cell: Cell,
        task: WorkerTask,
        env_overrides: dict[str, str],
        timeout_s: float,
        on_phase: OnPhase | None,
    ) -> CellResult:
        return run_process(cell, task, self.home, env_overrides, timeout_s, on_phase)

    def close(self) -> None:
        pass


def remote_cell(
    cell: Cell, task: WorkerTask, reference: bytes, env_overrides: dict[str, str], timeout_s: float
) -> CellResult:
    """Runs inside a Dask worker: the cell's worker process on that machine, pinned to the Dask
    worker's own CPUs (start one Dask worker per CPU set: `taskset -c ... dask worker`), in its
    dlarena home's environments, against the reference sent with the task."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    threading = dataclasses.replace(
        task.threading, cpus=cpus, intra_op=min(task.threading.intra_op, len(cpus))
    )
    with tempfile.TemporaryDirectory(prefix="dlarena-cell-") as folder:
        path = Path(folder) / "reference.npz"
        path.write_bytes(reference)
        here = dataclasses.replace(task, reference=str(path), threading=threading)
        return run_process(cell, here, envs.dlarena_home(), env_overrides, timeout_s)


def _refused_at_once(scheduler: str) -> None:
    """Raise ConnectionRefusedError when nothing listens at a tcp:// address (the Dask client
    would retry for its whole timeout); a slow or filtered address is left to the client."""
    host, sep, port = scheduler.removeprefix("tcp://").rpartition(":")
    if not scheduler.startswith("tcp://") or not sep or not port.isdigit():
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect((host.strip("[]"), int(port)))
        except ConnectionRefusedError:
            raise
        except OSError:
            return


class DaskExecutor:
    """Each worker process of a cell as one Dask task holding one CPU (or GPU) resource. A worker
    lost while it runs: Dask runs the task on another worker (up to its allowed-failures), after
    that the cell is recorded as failed with the reason."""

    def __init__(self, scheduler: str, device: str = "cpu"):
        from distributed import Client

        self.resource = "GPU" if device == "gpu" else "CPU"
        try:
            _refused_at_once(scheduler)
            self.client = Client(scheduler, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DlarenaError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                "'dask scheduler' and point --scheduler at its tcp:// address"
            ) from None
        with contextlib.suppress(OSError, TimeoutError):  # none came: said below
            self.client.wait_for_workers(1, timeout=60)  # workers still starting
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        self.width = int(sum(w.get("resources", {}).get(self.resource, 0) for w in workers))
        if self.width < 1:
            self.client.close()
            raise DlarenaError(
                f"no Dask worker at {scheduler} offers the resource {self.resource}; start "
                f"workers with: dask worker {scheduler} --nthreads 1 "
                f"--resources {self.resource}=1"
            )

    def run(
        self,
        cell: Cell,
        task: WorkerTask,
        env_overrides: dict[str, str],
        timeout_s: float,
        on_phase: OnPhase | None,
    ) -> CellResult:
        reference = Path(task.reference).read_bytes()
        future = self.client.submit(
            remote_cell,
            cell,
            task,
            reference,
            env_overrides,
            timeout_s,
            resources={self.resource: 1},
            key=f"{cell.label}-{task.process}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        try:
            result: CellResult = future.result()
        except Exception as exc:  # noqa: BLE001  a lost worker, a failed task: the cell failed
            return dataclasses.replace(
                cell.empty(),
                threading=task.threading,
                reason=f"the Dask task failed ({type(exc).__name__}: {exc})",
            )
        return result

    def close(self) -> None:
        self.client.close()


def executor_for(name: str, scheduler: str | None, home: Path, device: str) -> Any:
    """The executor `bench --executor` names."""
    if name == "local":
        if scheduler:
            raise DlarenaError("--scheduler is for --executor dask")
        return LocalExecutor(home)
    if name == "dask":
        if not scheduler:
            raise DlarenaError("--executor dask needs --scheduler tcp://HOST:PORT")
        return DaskExecutor(scheduler, device)
    raise DlarenaError(f"unknown executor '{name}'; choose local or dask")
