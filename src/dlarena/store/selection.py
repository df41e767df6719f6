"""Which figures count: across every run, the newest cell of each kind that passed parity on the
machine measured last. `score`, `advise`, `cost`, the report and the dashboard all read this one
selection; `--run N` pins one run instead.

A kind is (spec content hash, runtime, tier, mode, threading policy): a size preset or an edited
spec is another kind, so a one-off bench of a custom spec adds figures and replaces none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from dlarena.errors import DlarenaError
from dlarena.records import CellResult

# What makes two cells' machines the same for comparing their figures.
MACHINE_FIELDS = {
    "CPU model": lambda c: c.environment.cpu_model,
    "cores": lambda c: c.environment.cpu_count,
    "device": lambda c: device_kind(c.environment.setup.device if c.environment.setup else ""),
}


def device_kind(device: str) -> str:
    """'gpu' or 'cpu', whatever a framework calls its device ('cuda:0', '/GPU:0', 'cpu(0)')."""
    return "gpu" if any(word in device.lower() for word in ("cuda", "gpu")) else "cpu"


def kind_of(cell: CellResult) -> tuple[str, str, str, str, str]:
    policy = cell.threading.policy if cell.threading else "fair"
    return (cell.spec_hash or cell.workload, cell.runtime, cell.tier, cell.mode, policy)


def machine_of(cell: CellResult) -> tuple[Any, ...]:
    return tuple(read(cell) for read in MACHINE_FIELDS.values())


@dataclasses.dataclass(frozen=True)
class Selection:
    """The cells that count, and what was left out and why."""

    cells: tuple[CellResult, ...]  # one per kind: the newest that passed parity
    pinned: int | None = None  # the run asked for with --run, if any
    machine: tuple[Any, ...] = ()  # the machine every selected cell ran on
    superseded: int = 0  # older passing cells of a kind measured again since
    failing: tuple[CellResult, ...] = ()  # newest cells of their kind that did not pass
    elsewhere: int = 0  # cells measured on another machine

    @property
    def runs(self) -> tuple[int, ...]:
        return tuple(sorted({c.run_id for c in self.cells if c.run_id is not None}))

    @property
    def source(self) -> str:
        """Where the figures come from, in a few words."""
        if self.pinned is not None:
            return f"run {self.pinned}"
        if not self.cells:
            return "no run that passed parity"
        runs = ", ".join(map(str, self.runs))
        plural = "s" if len(self.runs) > 1 else ""
        return f"run{plural} {runs} (the newest passing cell of each kind)"

    def machine_text(self) -> str:
        if not self.machine:
            return "none measured yet"
        return ", ".join(f"{k} {v}" for k, v in zip(MACHINE_FIELDS, self.machine, strict=True))


@dataclasses.dataclass(frozen=True)
class Entry:
    """What the selection reads of a cell: its id, kind, machine and whether it is ranked (from
    a CellResult, or from the store's index of every cell without loading it)."""

    id: int
    kind: tuple[str, ...]
    machine: tuple[Any, ...]
    ranked: bool


def entry_of(cell: CellResult) -> Entry:
    return Entry(cell.id or 0, kind_of(cell), machine_of(cell), cell.ranked)


@dataclasses.dataclass(frozen=True)
class Chosen:
    """The selection by ids: the passing cells that count and the newest failing ones."""

    passing: tuple[int, ...] = ()
    failing: tuple[int, ...] = ()
    machine: tuple[Any, ...] = ()
    superseded: int = 0
    elsewhere: int = 0


def choose(entries: Sequence[Entry]) -> Chosen:
    """The newest entry of each kind that passed parity, on the machine of the newest entry."""
    if not entries:
        return Chosen()
    ordered = sorted(entries, key=lambda e: e.id)
    machine = ordered[-1].machine
    here = [e for e in ordered if e.machine == machine]
    newest: dict[tuple, Entry] = {}
    passing: dict[tuple, Entry] = {}
    for entry in here:
        newest[entry.kind] = entry
        if entry.ranked:
            passing[entry.kind] = entry
    return Chosen(
        passing=tuple(sorted(e.id for e in passing.values())),
        failing=tuple(e.id for e in newest.values() if not e.ranked),
        machine=machine,
        superseded=sum(e.ranked for e in here) - len(passing),
        elsewhere=len(ordered) - len(here),
    )


def select(cells: Sequence[CellResult]) -> Selection:
    """The newest cell of each kind that passed parity, on the machine of the newest cell."""
    chosen = choose([entry_of(c) for c in cells])
    by_id = {c.id or 0: c for c in cells}
    return _selection(chosen, by_id)


def _selection(chosen: Chosen, by_id: dict[int, CellResult]) -> Selection:
    return Selection(
        cells=tuple(by_id[i] for i in chosen.passing),
        machine=chosen.machine,
        superseded=chosen.superseded,
        failing=tuple(by_id[i] for i in chosen.failing),
        elsewhere=chosen.elsewhere,
    )


def current(store: Any, run: int | None = None) -> Selection:
    """The figures that count in the store (blocks and latencies loaded), or one run's."""
    if run is not None:
        store.run_info(run)  # an unknown run is an error naming the runs there are
        cells = store.cells(run, raw=True)
        ranked = tuple(c for c in cells if c.ranked)
        failing = tuple(c for c in cells if not c.ranked)
        machine = machine_of(cells[-1]) if cells else ()
        return Selection(ranked, pinned=run, machine=machine, failing=failing)
    chosen = choose(store.cell_entries())
    loaded = store.cells_by_id(chosen.passing, raw=True) + store.cells_by_id(chosen.failing)
    return _selection(chosen, {c.id or 0: c for c in loaded})


def require_figures(selection: Selection, store_path: Any) -> None:
    """Raise, naming the command that fills it, when nothing passed parity."""
    if not selection.cells:
        raise DlarenaError(
            f"no cell in {store_path} passed parity yet; run 'dlarena bench' (or 'make run')"
        )
