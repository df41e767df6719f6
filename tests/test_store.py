"""The SQLite store: schema versioning, every cell committed at once, interrupted runs kept."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from dlarena.codec import encode
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
)
from dlarena.run_records import Protocol, RunConfig
from dlarena.runner.threads import fair
from dlarena.spec.loader import load_workload
from dlarena.spec.model import Workload
from dlarena.store import SCHEMA_VERSION, Store
from dlarena.store.schema import MIGRATIONS

MLP = load_workload("mlp")


BLOCKS = (Block(0, 10, 0.02), Block(0, 10, 0.021), Block(1, 10, 0.019))
LATENCY = ((1, (0.001, 0.0012)), (64, (0.002, 0.0021, 0.0019)))


def a_cell(runtime: str, passed: bool = True, blocks: tuple = BLOCKS):
    return CellResult(
        workload="mlp",
        runtime=runtime,
        tier="eager",
        mode="infer",
        status="ok",
        spec=MLP.canonical_json(),
        spec_hash=MLP.content_hash,
        api="nn.Module",
        env_name="main",
        environment=Environment(setup=Setup("1.0", "cpu", 2, 1), threads=2),
        phases=Phases(import_s=1.5, warmup_s=(0.1, 0.2)),
        summary=summarize(blocks, MLP.batch_size, LATENCY),
        parity=(
            ParityCheck("forward", 1e-6, 1e-7, 1e-4, passed),
            ParityCheck("original", 2e-6, 2e-7, 1e-4, True, "through the file's own softmax"),
        ),  # a note comes back as it went in, and no note as none
        threading=fair(2),
        warnings=("unstable: block-to-block CV 12% (over 10%)",),
        blocks=blocks,
        latency=LATENCY,
        load=(MachineLoad(0.01, 0.0, 0.2, 0.3),),
        memory=Memory(300.0, None),
        reruns=2,  # processes run again in a slow stretch: stored too
    )


def test_new_store_has_the_current_schema_version(tmp_path: Path) -> None:
    Store(tmp_path / "s.sqlite").close()
    version = sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_a_store_from_a_newer_dlarena_is_refused(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "s.sqlite").execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DlarenaError, match="newer than this dlarena"):
        Store(tmp_path / "s.sqlite")


def test_a_file_that_is_not_sqlite_gets_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.sqlite").write_text("not a database, just text" * 100)
    with pytest.raises(DlarenaError, match="cannot be opened"):
        Store(tmp_path / "s.sqlite")


def test_cells_round_trip_with_parity_and_samples(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run(RunConfig(), git_sha="abc123")
    store.save_cell(run_id, a_cell("torch"))
    store.save_cell(run_id, a_cell("jax", passed=False))
    torch_cell, jax_cell = store.cells(run_id)
    assert torch_cell.ranked and not jax_cell.ranked
    assert jax_cell.parity[0].max_rel == 1e-7 and jax_cell.parity_passed is False
    assert dataclasses.replace(torch_cell, id=0, run_id=0) == dataclasses.replace(
        a_cell("torch"), blocks=(), latency=()
    )  # every field comes back as it went in; blocks and latencies when asked for
    raw = store.cells(run_id, raw=True)[0]
    assert (raw.blocks, raw.latency) == (BLOCKS, LATENCY)
    assert Workload.from_dict(json.loads(torch_cell.spec or "")) == MLP


def test_a_cell_rewritten_after_each_process_keeps_its_id_and_one_copy(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run(RunConfig(), git_sha=None)
    cell_id = store.save_cell(run_id, a_cell("torch", blocks=BLOCKS[:1]))
    assert store.save_cell(run_id, a_cell("torch"), cell_id) == cell_id
    (cell,) = store.cells(run_id, raw=True)
    assert cell.id == cell_id and cell.blocks == BLOCKS


def test_a_run_that_never_finished_keeps_every_committed_cell(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run(RunConfig(), git_sha=None)
    store.save_cell(run_id, a_cell("torch"))
    del store  # the process dies here: no finish_run, no close
    reopened = Store(tmp_path / "s.sqlite")
    assert reopened.run_info(run_id).status == "running"
    assert [c.runtime for c in reopened.cells(run_id)] == ["torch"]


def test_a_failed_write_names_the_store_and_keeps_earlier_cells(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    run_id = store.start_run(RunConfig(), git_sha=None)
    store.save_cell(run_id, a_cell("torch"))
    # A page limit makes SQLite answer as it does on a full disk.
    store.db.execute(
        f"PRAGMA max_page_count = {store.db.execute('PRAGMA page_count').fetchone()[0]}"
    )
    big = a_cell("jax", blocks=(Block(0, 1, 0.001),) * 50_000)
    with pytest.raises(
        DlarenaError, match="could not store a cell in the store .* free disk space"
    ):
        store.save_cell(run_id, big)
    assert [c.runtime for c in store.cells(run_id)] == ["torch"]


def test_a_run_config_reads_back_as_written_and_one_from_before_records_reads_too(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.sqlite")
    config = RunConfig(
        protocol=Protocol(threads=2, isolation="paired", paired_s=1.5),
        cells=("mlp torch eager train",),
        plan=((MLP.content_hash, "torch", "eager", "train"),),
        specs={MLP.content_hash: MLP.to_dict()},
        env_overrides={"torch": "/envs/t"},
        peak_gflops=180.0,
        peak_probe_s=0.3,
    )
    run_id = store.start_run(config, git_sha="abc")
    info = store.run_info(run_id)
    assert info.config == config and (info.id, info.git_sha, info.status) == (1, "abc", "running")
    assert store.runs() == [dataclasses.replace(info, cells=0)]
    # a config stored as a plain object (no versions; before the memory policy, no malloc)
    old = {"protocol": {"threads": 2, "processes": 1}, "cells": [], "peak_gflops": 99.0}
    store.db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(old), run_id))
    read = store.run_info(run_id).config
    assert read.protocol == Protocol(threads=2, processes=1, malloc="system")
    assert (read.peak_gflops, read.plan) == (99.0, ())
    newer = {**encode(config), "version": RunConfig.VERSION + 1}
    store.db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(newer), run_id))
    with pytest.raises(DlarenaError, match="RunConfig version 2 is newer than this dlarena"):
        store.run_info(run_id)


def test_a_schema_2_store_migrates_and_its_cells_read_as_records(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "PRAGMA user_version = 2;")
    db.execute("INSERT INTO runs VALUES (1, 0, 1, 'finished', 'abc', '{}')")
    old_environment = {
        "framework_version": "2.13.0",
        "device": "cpu",
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "python": "3.11.7",
        "threads": 2,
    }
    old_summary = dict(
        zip(
            (
                "calls",
                "repeats",
                "median_ms",
                "ci_low_ms",
                "ci_high_ms",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "samples_per_s",
                "repeat_cv",
                "unstable",
            ),
            (10, 2, 2.0, 1.9, 2.1, 2.0, 2.2, 2.5, 32000.0, 0.01, False),
            strict=True,
        )
    )
    db.execute(
        "INSERT INTO cells (run_id, workload, runtime, tier, mode, status, parity_passed, "
        "environment, phases, summary, created_at) VALUES "
        "(1, 'mlp', 'torch', 'eager', 'train', 'ok', 1, ?, ?, ?, 0),"
        "(1, 'mlp', 'jax', 'eager', 'train', 'failed', NULL, '{}', '{}', '{}', 0)",
        (
            json.dumps(old_environment),
            json.dumps({"import_s": 1.2, "warmup_s": [0.1]}),
            json.dumps(old_summary),
        ),
    )
    db.execute("INSERT INTO parity VALUES (1, 'loss', 1e-7, 1e-8, 1e-4, 1)")
    db.commit()
    db.close()

    ok, failed = Store(path).cells(1)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert ok.environment.setup == Setup("2.13.0", "cpu", 2, 1)
    assert ok.environment.python == "3.11.7" and ok.environment.framework_version == "2.13.0"
    assert ok.summary is not None and ok.summary.samples_per_s == 32000.0 and ok.ranked
    assert ok.threading is None and ok.warnings == () and ok.memory is None and ok.api is None
    assert ok.phases.warmup_s == (0.1,) and ok.spec is None and ok.spec_hash is None
    assert failed.summary is None and failed.environment.setup is None and not failed.ranked


def test_references_live_beside_their_store_one_folder_per_run(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "a" / "s.sqlite"), Store(tmp_path / "b" / "s.sqlite")
    assert first.reference_dir(1) == tmp_path / "a" / "s.runs" / "1"
    assert first.reference_dir(1) != second.reference_dir(1)


def test_the_figures_that_count_are_the_newest_passing_cell_of_each_kind(tmp_path: Path) -> None:
    """A later bench of a custom spec adds its figures and replaces none; a newer failure of a
    kind keeps the older passing figure and is listed; another machine's cells stay out."""
    from dlarena.store.selection import current, entry_of, select

    db = Store(tmp_path / "s.sqlite")
    custom = dataclasses.replace(a_cell("torch"), workload="mlp", spec_hash="0123456789abcdef")
    elsewhere = dataclasses.replace(
        a_cell("jax"), environment=Environment(setup=Setup("1.0", "cpu", 2, 1), cpu_count=64)
    )
    runs = [
        [elsewhere],
        [a_cell("torch"), a_cell("jax")],
        [custom],
        [a_cell("torch", passed=False)],
    ]
    ids = []
    for cells in runs:
        run_id = db.start_run(RunConfig(), None)
        ids.append([db.save_cell(run_id, c) for c in cells])
        db.finish_run(run_id, "finished")
    chosen = current(db)
    assert [c.id for c in chosen.cells] == [*ids[1], *ids[2]]
    assert chosen.runs == (2, 3) and chosen.elsewhere == 1 and chosen.superseded == 0
    assert [c.id for c in chosen.failing] == ids[3]
    assert all(c.blocks for c in chosen.cells)  # loaded for significance tests
    assert chosen.source == "runs 2, 3 (the newest passing cell of each kind)"
    # the index SQLite reads out of the stored JSON is what the records themselves say
    assert db.cell_entries() == [entry_of(c) for c in db.all_cells()]
    everything = select(db.all_cells())
    assert [c.id for c in everything.cells] == [c.id for c in chosen.cells]
    assert (everything.machine, everything.elsewhere) == (chosen.machine, chosen.elsewhere)
    pinned = current(db, 2)
    assert pinned.source == "run 2" and [c.id for c in pinned.cells] == ids[1]
    with pytest.raises(DlarenaError, match="run 9 is not in"):
        current(db, 9)


def test_the_report_shows_a_check_made_otherwise_and_the_defaults_each_framework_overrides(
    tmp_path: Path,
) -> None:
    """Both renderings, from the stored cells: a parity note beside its cell, and the frameworks'
    defaults that differ from the spec."""
    from dlarena.decide.profile import load_profile
    from dlarena.report.content import build_report
    from dlarena.report.html import write_html
    from dlarena.report.markdown import write_markdown

    db = Store(tmp_path / "s.sqlite")
    run_id = db.start_run(RunConfig(), None)
    for runtime in ("torch", "jax"):
        db.save_cell(run_id, a_cell(runtime))
    db.finish_run(run_id, "finished")
    report = build_report(db, load_profile(None))
    db.close()
    write_markdown(tmp_path / "r.md", report)
    write_html(tmp_path / "r.html", report)
    markdown, page = (tmp_path / "r.md").read_text(), (tmp_path / "r.html").read_text()
    note = "original: through the file's own softmax"
    assert f"- mlp (small)/torch/eager/infer: {note}" in markdown
    assert "<li>mlp (small)/jax/eager/infer: original: through the file" in page
    assert "| PyTorch | batch norm momentum |" in markdown and "Keras" in page


def test_a_process_from_another_environment_is_not_pooled_into_a_cell() -> None:
    """A run resumed after a framework upgrade: the new process's blocks would mix two
    frameworks' figures in one cell; the cell fails instead, naming what changed."""
    from dlarena.runner.cell import Yardstick, merge

    yardstick = Yardstick(MLP.batch_size)
    earlier = a_cell("torch", blocks=BLOCKS[:2])
    same = merge(earlier, a_cell("torch", blocks=BLOCKS[2:]), yardstick)
    assert same.status == "ok" and same.blocks == BLOCKS
    upgraded = dataclasses.replace(
        a_cell("torch", blocks=BLOCKS[2:]),
        environment=Environment(setup=Setup("1.1", "cpu", 2, 1), threads=2),
    )
    refused = merge(earlier, upgraded, yardstick)
    assert refused.status == "failed" and refused.blocks == BLOCKS[:2]
    assert refused.reason is not None and "framework version 1.0 vs 1.1" in refused.reason
