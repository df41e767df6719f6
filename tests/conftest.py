"""Shared fixtures: real worker processes need the environments that `make test` creates."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dlarena.runner.matrix import Protocol
from dlarena.store import Store

SPECS = Path(__file__).parent / "specs"

# One short measurement per cell: these tests check behaviour, never speed.
FAST = Protocol(threads=2, warmup=1, repeats=2, min_repeat_s=0.0, timeout_s=600.0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    db = Store(tmp_path / "store.sqlite")
    yield db
    db.close()


@pytest.fixture
def fast() -> Protocol:
    return dataclasses.replace(FAST)
