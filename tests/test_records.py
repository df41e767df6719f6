"""Typed records: they survive the trip through JSON, and a newer format is refused."""

from __future__ import annotations

import json

import pytest

from dlarena.codec import decode, encode
from dlarena.errors import DlarenaError
from dlarena.measure.stats import summarize
from dlarena.records import (
    Block,
    CellResult,
    Environment,
    MachineLoad,
    Memory,
    ParityCheck,
    Phases,
    Setup,
    WorkerResult,
    WorkerTask,
)
from dlarena.runner.threads import fair

RESULT = WorkerResult(
    environment=Environment(
        setup=Setup("2.13.0", "cpu", 2, 1, (("onnx", "1.20.0"),)),
        affinity=(0, 1),
        speed_env=(("OMP_NUM_THREADS", "2"),),
        python="3.11.7",
        threads=2,
    ),
    phases=Phases(1.2, 0.3, 0.05, (0.01, 0.02), 512.0),
    blocks=(Block(0, 10, 0.01), Block(0, 10, 0.012)),
    latency=((1, (0.001, 0.002)), (64, (0.0015,))),
    load=MachineLoad(0.01, 0.0, 0.1, 0.2),
    memory=Memory(400.0, None),
)


@pytest.mark.parametrize(
    "record",
    [
        RESULT,
        WorkerTask("m", {"name": "mlp", "layers": [1]}, "eager", "train", fair(2), "cpu", "r"),
        CellResult(
            "mlp",
            "torch",
            "eager",
            "train",
            "ok",
            parity=(ParityCheck("params", 1e-7, 1e-8, 1e-4, True, "2 tensor(s) ..."),),
            summary=summarize(RESULT.blocks, 64, RESULT.latency),
            environment=RESULT.environment,
            threading=fair(2),
        ),
    ],
    ids=lambda r: type(r).__name__,
)
def test_records_round_trip_through_json(record) -> None:
    assert decode(type(record), json.loads(json.dumps(encode(record)))) == record


def test_every_encoded_record_names_its_version() -> None:
    encoded = encode(RESULT)
    assert encoded["version"] == WorkerResult.VERSION
    assert encoded["environment"]["setup"]["version"] == Setup.VERSION


def test_a_record_from_a_newer_dlarena_is_refused_with_the_fix() -> None:
    encoded = {**encode(RESULT), "version": WorkerResult.VERSION + 1}
    with pytest.raises(DlarenaError, match="newer than this dlarena understands.*upgrade"):
        decode(WorkerResult, encoded)


def test_a_cell_is_ranked_only_when_it_ran_and_passed_every_check() -> None:
    passed, failed = (ParityCheck("forward", 0, 0, 1e-4, ok) for ok in (True, False))
    summary = summarize(RESULT.blocks, 64)
    cell = CellResult("mlp", "torch", "eager", "infer", "ok", summary=summary, parity=(passed,))
    assert cell.ranked and cell.parity_passed is True
    assert not CellResult("mlp", "t", "eager", "infer", "ok", summary=summary).ranked
    assert (
        CellResult("mlp", "t", "eager", "infer", "ok", parity=(passed, failed)).parity_passed
        is False
    )
