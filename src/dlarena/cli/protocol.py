"""bench's options checked and turned into what the runner takes: the measurement protocol,
and the run `--resume` names."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from dlarena.errors import DlarenaError

if TYPE_CHECKING:
    from dlarena.runner.matrix import Protocol
    from dlarena.store import Store


def resumed_run(db: Store, which: str) -> int:
    """The run `--resume` names: an id, or 'last' (the newest interrupted run)."""
    if which != "last":
        try:
            return int(which)
        except ValueError:
            raise DlarenaError(f"--resume {which!r}: give a run id or 'last'") from None
    for info in db.runs():
        if info.status == "interrupted":
            return info.id
    raise DlarenaError(f"no interrupted run in {db.path} to resume")


def bench_protocol(
    quick: bool,
    threads: int | None,
    policies: tuple[str, str, str],
    counts: tuple[int | None, int | None],
    wait_quiet: bool,
    timeout: float,
    device: str,
) -> Protocol:
    """The measurement protocol from the bench options (`policies`: threading, memory, isolation;
    `counts`: processes per cell and slow-stretch reruns, None for the profile's), each
    checked."""
    from dlarena.runner.matrix import ISOLATION, PROFILES, Protocol
    from dlarena.runner.threads import MALLOC, POLICIES, all_cpus

    threading, malloc, isolation = policies
    if isolation not in ISOLATION:
        raise DlarenaError(f"--isolation '{isolation}' is unknown; choose {' or '.join(ISOLATION)}")
    if device not in ("cpu", "gpu"):
        raise DlarenaError(f"--device '{device}' is not supported; choose cpu or gpu")
    if threads is not None and threads > all_cpus():
        raise DlarenaError(
            f"--threads {threads}: this process may use {all_cpus()} CPUs; give at most that"
        )
    if threading not in POLICIES:
        raise DlarenaError(f"--threading '{threading}' is unknown; choose {' or '.join(POLICIES)}")
    if malloc not in MALLOC:
        raise DlarenaError(f"--malloc '{malloc}' is unknown; choose {' or '.join(MALLOC)}")
    protocol = Protocol(**PROFILES["quick" if quick else "default"])
    changes: dict[str, Any] = {"timeout_s": timeout, "device": device}
    changes |= {"threading": threading, "malloc": malloc, "isolation": isolation}
    if threads is not None:
        changes["threads"] = threads
    processes, slow_reruns = counts
    if processes is not None:
        changes["processes"] = processes
    if slow_reruns is not None:
        changes["slow_reruns"] = slow_reruns
    if wait_quiet:
        changes["wait_quiet_s"] = 300.0
    return dataclasses.replace(protocol, **changes)
