"""Load on a running dashboard, as a team sharing one makes it: many clients at once over every
page and API path, each answer checked against the status it should have.

    python -m dlarena.dashboard.load STORE [--clients 32] [--requests 1000]

serves STORE on 127.0.0.1 (read-only) and prints the throughput, p50/p99 latency and every
unexpected answer."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def paths_of(run: int) -> dict[str, int]:
    """Every page and API path for a store whose run `run` exists, with its expected status."""
    known = (
        "/", f"/runs/{run}", "/report", "/evidence", "/history/torch", f"/compare?a={run}&b={run}",
        "/api/runs", f"/api/runs/{run}", "/api/answer", f"/api/compare?a={run}&b={run}",
        "/api/evidence", "/api/history/torch", "/openapi.json",
    )  # fmt: skip
    unknown = ("/nosuch", "/runs/999999", "/api/runs/999999", "/history/nosuch")
    return {**dict.fromkeys(known, 200), **dict.fromkeys(unknown, 404)}


@dataclasses.dataclass
class Load:
    seconds: float
    latencies: list[float]
    unexpected: list[str]  # 'PATH: what came back instead'
    statuses: collections.Counter

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.unexpected)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> str:
        return (
            f"{self.requests} requests in {self.seconds:.1f} s ({self.requests / self.seconds:.0f}"
            f"/s): p50 {self.quantile(0.5) * 1e3:.0f} ms, p99 {self.quantile(0.99) * 1e3:.0f} ms, "
            f"mean {statistics.fmean(self.latencies or [0]) * 1e3:.0f} ms; "
            f"{len(self.unexpected)} unexpected answers"
        )


def hit(base_url: str, expected: dict[str, int], clients: int, requests: int) -> Load:
    """`requests` GETs from `clients` concurrent clients, cycling over `expected`'s paths."""
    order = list(expected)
    lock = threading.Lock()
    load = Load(0.0, [], [], collections.Counter())

    def one(i: int, client: httpx.Client) -> None:
        path = order[i % len(order)]
        started = time.perf_counter()
        try:
            status = client.get(base_url + path).status_code
            outcome = "" if status == expected[path] else f"HTTP {status}"
        except httpx.HTTPError as exc:
            status, outcome = 0, f"{type(exc).__name__}: {exc}"
        with lock:
            load.statuses[status] += 1
            if outcome:
                load.unexpected.append(f"{path}: {outcome}")
            else:
                load.latencies.append(time.perf_counter() - started)

    def worker(k: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(k, requests, clients):
                one(i, client)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    load.seconds = time.perf_counter() - started
    return load


def main() -> None:
    from dlarena.dashboard.server import running
    from dlarena.store import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    db = Store(args.store, create=False, read_only=True)
    run = db.latest_run()
    db.close()
    with running(args.store) as url:
        load = hit(url, paths_of(run or 1), args.clients, args.requests)
    print(load.summary())
    for line in collections.Counter(load.unexpected).most_common(10):
        print(f"  {line[1]} x {line[0]}")


if __name__ == "__main__":
    main()
