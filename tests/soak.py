"""The soak: quick benches of the fake 'numpy' runtime, one after another, into one store while
a `dlarena serve` process is polled. What must not grow: the dashboard's open files and memory
once its bounded cache is full, worker processes left alive, dlarena-workers-* folders left in
the temporary folder.

    python -m tests.soak FOLDER [--benches 200]   # prints the figures after every 10th bench
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ("--workload", "mlp", "--size", "tiny", "--runtime", "numpy", "--mode", "infer")
BENCH += ("--tier", "eager", "--quick", "--slow-reruns", "0")
POLLED = ("/", "/report", "/api/runs", "/api/answer", "/runs/1")


@dataclasses.dataclass(frozen=True)
class Reading:
    benches: int
    fds: int  # the dashboard's open file descriptors
    rss_mb: float  # the dashboard's resident memory
    workers_alive: int  # processes started with the soak's token, besides the dashboard
    scratch: int  # dlarena-workers-* folders in the temporary folder


def _environment(token: str, scratch: Path) -> dict[str, str]:
    """The soak's processes: its token (to find them), and a temporary folder of its own."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DLARENA_TEST_HOST": token,
        "TMPDIR": str(scratch),
    }


def _with_token(token: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and f"DLARENA_TEST_HOST={token}".encode() in (proc / "environ").read_bytes()
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def read(dashboard: int, token: str, benches: int, scratch: Path) -> Reading:
    status = Path(f"/proc/{dashboard}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    left = len(list(scratch.glob("dlarena-workers-*")))
    alive = [p for p in _with_token(token) if p != dashboard]
    return Reading(benches, len(os.listdir(f"/proc/{dashboard}/fd")), rss / 1024, len(alive), left)


def soak(folder: Path, benches: int, report_every: int = 10) -> list[Reading]:
    """Readings before the first bench and after every `report_every`-th."""
    from dlarena.runner.process import free_port

    store, token, port = folder / "soak.sqlite", f"soak-{os.getpid()}", free_port()
    scratch = folder / "tmp"
    scratch.mkdir(exist_ok=True)
    env = _environment(token, scratch)
    first = _bench(store, env)  # the store must exist before the dashboard serves it
    serve = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.host", "serve", "--port", str(port)]
        + ["--store", str(store)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url)
        readings = [read(serve.pid, token, first, scratch)]
        with httpx.Client(timeout=120) as client:
            for n in range(2, benches + 1):
                bench = _start_bench(store, env)
                while bench.poll() is None:  # polled while the bench writes
                    for path in POLLED:
                        client.get(url + path).raise_for_status()
                    time.sleep(0.2)
                _, stderr = bench.communicate()
                if bench.returncode != 0:
                    raise RuntimeError(f"bench {n} failed: {stderr[-800:]}")
                if n % report_every == 0 or n == benches:
                    readings.append(read(serve.pid, token, n, scratch))
                    print(readings[-1], flush=True)
        return readings
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def _start_bench(store: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.host", "bench", *BENCH, "--store", str(store)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _bench(store: Path, env: dict[str, str]) -> int:
    bench = _start_bench(store, env)
    _, stderr = bench.communicate(timeout=600)
    if bench.returncode != 0:
        raise RuntimeError(f"the first bench failed: {stderr[-800:]}")
    return 1


def _wait_up(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/api/runs", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the dashboard did not answer at {url} in {timeout_s:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--benches", type=int, default=200)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    for reading in soak(args.folder, args.benches):
        print(reading)
