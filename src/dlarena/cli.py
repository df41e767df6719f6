"""The dlarena command line. No deep learning framework is imported here."""

from __future__ import annotations

import dataclasses
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dlarena.errors import DlarenaError
from dlarena.frameworks import MODES, RUNTIMES, TIERS
from dlarena.measure.parity import TOLERANCES
from dlarena.report.rows import SUMMARY_COLUMNS, cell_row, fmt
from dlarena.runner import envs

app = typer.Typer(
    help="Which deep learning framework should we use? Measured, not guessed.",
    no_args_is_help=True,
    add_completion=False,
)
envs_app = typer.Typer(
    help="Framework environments (virtualenvs from pinned requirement files).", no_args_is_help=True
)
app.add_typer(envs_app, name="envs")
err = Console(stderr=True)
out = Console()


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="table, or one JSON document")]
StoreOpt = Annotated[
    Path | None, typer.Option(help="SQLite store (default: <home>/dlarena.sqlite)")
]
RunOpt = Annotated[int | None, typer.Option("--run", help="run id (default: the latest)")]


def _store(path: Path | None) -> Any:
    from dlarena.store import Store

    return Store(path or envs.dlarena_home() / "dlarena.sqlite")


def _emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _parse_pairs(values: list[str], option: str, known: Any) -> dict[str, str]:
    """NAME=VALUE options, NAME one of `known`."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or name not in known:
            raise DlarenaError(
                f"{option} '{value}' is not NAME=VALUE with NAME one of {', '.join(known)}"
            )
        pairs[name] = rest
    return pairs


@app.command()
def bench(
    workload: Annotated[list[str], typer.Option(help="built-in name (mlp, cnn) or spec file")] = [
        "mlp",
        "cnn",
    ],
    runtime: Annotated[list[str], typer.Option(help="runtimes to run")] = list(RUNTIMES),
    tier: Annotated[list[str], typer.Option(help="eager and/or compiled")] = list(TIERS),
    mode: Annotated[list[str], typer.Option(help="train and/or infer")] = list(MODES),
    quick: Annotated[bool, typer.Option(help="fewer, shorter repeats")] = False,
    threads: Annotated[int | None, typer.Option(help="threads for every framework")] = None,
    timeout: Annotated[float, typer.Option(help="seconds before a worker is killed")] = 900.0,
    device: Annotated[str, typer.Option(help="cpu, or gpu (CUDA) for every framework")] = "cpu",
    env: Annotated[list[str], typer.Option(help="RUNTIME=ENV, e.g. torch=torch-old")] = [],
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Run the benchmark matrix: every cell in a fresh worker, parity-gated, stored at once."""
    from dlarena.runner.matrix import QUICK, Protocol, plan, run_matrix
    from dlarena.spec.loader import load_workload

    cells = plan([load_workload(w) for w in workload], runtime, tier, mode)
    if device not in ("cpu", "gpu"):
        raise DlarenaError(f"--device '{device}' is not supported; choose cpu or gpu")
    protocol = dataclasses.replace(
        Protocol(**(QUICK if quick else {})), timeout_s=timeout, device=device
    )
    if threads is not None:
        protocol = dataclasses.replace(protocol, threads=threads)
    db = _store(store)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=format == Format.json,
    ) as bar:
        task = bar.add_task("starting", total=len(cells))

        def on_phase(cell: Any, phase: str) -> None:
            bar.update(task, description=f"{cell.label} [dim]{phase}[/]")

        def on_cell(cell: Any, record: dict[str, Any]) -> None:
            bar.advance(task)
            if record["status"] != "ok":
                err.print(f"[red]failed[/] {cell.label}: {record['reason']}")

        run_id = run_matrix(
            db, cells, protocol, _parse_pairs(env, "--env", RUNTIMES), on_cell, on_phase
        )
    _show_cells(db, run_id, format, title=f"run {run_id}")


def _show_cells(db: Any, run_id: int, format: Format, title: str) -> None:
    rows = [cell_row(c) for c in db.cells(run_id)]
    if format == Format.json:
        _emit_json({"run": db.run_info(run_id), "cells": rows})
        return
    table = Table(title=title)
    columns = SUMMARY_COLUMNS
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(fmt(row[c]) for c in columns))
    out.print(table)


def _run_id(db: Any, run: int | None) -> int:
    run_id = run if run is not None else db.latest_run()
    if run_id is None:
        raise DlarenaError(f"no runs in {db.path}; run 'dlarena bench' first")
    return int(run_id)


@app.command()
def parity(run: RunOpt = None, store: StoreOpt = None, format: FormatOpt = Format.table) -> None:
    """The parity matrix: each cell's differences from the float64 reference, with tolerances."""
    db = _store(store)
    run_id = _run_id(db, run)
    rows = [cell_row(c) for c in db.cells(run_id)]
    if format == Format.json:
        _emit_json(
            {
                "run_id": run_id,
                "cells": [
                    {
                        k: r[k]
                        for k in ("workload", "runtime", "tier", "mode", "parity", "parity_checks")
                    }
                    for r in rows
                ],
            }
        )
        return
    checks = ("forward", "loss", "grads", "params")
    tolerances = ", ".join(f"{k} {v:g}" for k, v in TOLERANCES.items())
    table = Table(
        title=f"parity, run {run_id}: max relative difference from the float64 reference",
        caption=f"tolerances: {tolerances}; '!' marks a check over its tolerance",
    )
    for column in ("workload", "runtime", "tier", "mode", *checks, "verdict"):
        table.add_column(column)
    for r in rows:
        found = {c["check"]: c for c in r["parity_checks"]}
        cells = [
            f"{found[c]['max_rel']:.1e}{'' if found[c]['passed'] else ' !'}" if c in found else "-"
            for c in checks
        ]
        table.add_row(r["workload"], r["runtime"], r["tier"], r["mode"], *cells, r["parity"])
    out.print(table)


@app.command()
def report(
    run: RunOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="report folder")] = Path("dlarena-report"),
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Write the HTML report (with plots) and a Markdown summary of a run."""
    from dlarena.report.decision import decision_rows
    from dlarena.report.html import write_html, write_markdown

    db = _store(store)
    run_id = _run_id(db, run)
    cells = db.cells(run_id)
    info, rows = db.run_info(run_id), [cell_row(c) for c in cells]
    decision = decision_rows(db, run_id, cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out_dir / "index.html", out_dir / "summary.md"
    write_html(html_path, info, rows, decision)
    write_markdown(md_path, info, rows, decision)
    if format == Format.json:
        _emit_json(
            {"run_id": run_id, "html": str(html_path.resolve()), "markdown": str(md_path.resolve())}
        )
    else:
        out.print(f"report: {html_path.resolve()}\nsummary: {md_path.resolve()}")


@app.command()
def scan(
    online: Annotated[bool, typer.Option(help="also ask GitHub, PyPI and pypistats now")] = False,
    git: Annotated[
        list[str], typer.Option(help="NAME=PATH of a local clone, e.g. jax=../jax")
    ] = [],
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Ecosystem health, exclusion rules and risk per framework, every figure sourced and dated."""
    import os

    from dlarena.evidence import gather
    from dlarena.evidence.report import evidence_document, evidence_tables
    from dlarena.evidence.snapshot import FRAMEWORKS

    clones = {k: Path(v) for k, v in _parse_pairs(git, "--git", FRAMEWORKS).items()}
    evidence = gather(
        _store(store), online=online, git=clones, token=os.environ.get("GITHUB_TOKEN")
    )
    for error in evidence.errors:
        err.print(f"[yellow]collector:[/] {escape(error)}", soft_wrap=True)
    if format == Format.json:
        _emit_json(evidence_document(evidence))
        return
    for table in evidence_tables(evidence):
        out.print(table)


ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="profile YAML (examples/)")]


WeightOpt = Annotated[
    list[str], typer.Option("--weight", help="CRITERION=NUMBER, over the profile")
]


def _measured(
    profile_path: Path | None, store: Path | None, run: int | None, weights: list[str]
) -> Any:
    """The profile (with --weight overrides), the store, the run measured and its cells."""
    from dlarena.decide.profile import CRITERIA, load_profile, with_weights

    profile = with_weights(load_profile(profile_path), _parse_pairs(weights, "--weight", CRITERIA))
    db = _store(store)
    run_id = run if run is not None else db.latest_run()
    return profile, db, run_id, db.cells(run_id) if run_id is not None else []


def _decision_inputs(
    profile_path: Path | None, store: Path | None, run: int | None, weights: list[str]
) -> Any:
    """Evidence, profile, the run measured, and the five criteria."""
    from dlarena.decide.criteria import criteria
    from dlarena.evidence import gather

    profile, db, run_id, cells = _measured(profile_path, store, run, weights)
    evidence = gather(db)
    return evidence, profile, run_id, criteria(evidence, cells, run_id, profile)


@app.command()
def score(
    profile: ProfileOpt = None,
    weight: WeightOpt = [],
    published_only: Annotated[
        bool, typer.Option(help="the comparison's own criterion values, equal weights")
    ] = False,
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """The five criteria per framework (with their basis) and the Speed Score, with sensitivity."""
    import numpy as np

    from dlarena.decide.criteria import published_criteria
    from dlarena.decide.profile import CRITERIA, Profile
    from dlarena.decide.scoring import ranking, sensitivity, speed_scores
    from dlarena.evidence.snapshot import FRAMEWORKS

    evidence, chosen, run_id, crit = _decision_inputs(profile, store, run, weight)
    if published_only:
        chosen, crit = Profile(name="published"), published_criteria(evidence)
    values = np.array([[crit[f][c].value for c in CRITERIA] for f in FRAMEWORKS])
    weights = np.array(chosen.weight_vector())
    ranked = ranking(list(FRAMEWORKS), speed_scores(values, weights))
    sens = sensitivity(list(FRAMEWORKS), values, weights, CRITERIA)
    if format == Format.json:
        _emit_json(
            {
                "profile": chosen.name,
                "weights": dict(chosen.weights),
                "run_id": run_id,
                "ranking": [{"framework": f, "speed_score": s} for f, s in ranked],
                "criteria": {
                    f: {c: dataclasses.asdict(v) for c, v in crit[f].items()} for f in FRAMEWORKS
                },
                "sensitivity": dataclasses.asdict(sens),
            }
        )
        return
    table = Table(
        title=f"Speed Score, profile '{chosen.name}'",
        caption="m = measured here, c = computed from evidence, p = the comparison's "
        "own rating (seed, Jan 2024)",
    )
    for column in ("rank", "framework", *CRITERIA, "Speed Score", "P(first)"):
        table.add_column(column)
    for position, (framework, value) in enumerate(ranked, start=1):
        cells = [f"{crit[framework][c].value:.1f} {crit[framework][c].basis[0]}" for c in CRITERIA]
        table.add_row(
            str(position), framework, *cells, f"{value:.2f}", f"{sens.p_first[framework]:.0%}"
        )
    out.print(table)
    moved = [
        f"{c} x{k:g} -> {leader}" for c, k, leader in sens.one_at_a_time if leader != ranked[0][0]
    ]
    out.print(
        "one weight at a time (+-20%): "
        + ("; ".join(moved) if moved else f"{ranked[0][0]} stays first in every case")
    )
    if sens.close_call:
        err.print("[yellow]warning:[/] the top two are within the noise of the weights")


@app.command()
def advise(
    profile: ProfileOpt = None,
    weight: WeightOpt = [],
    focus: Annotated[str | None, typer.Option(help="research | production | both")] = None,
    mobile_edge: Annotated[str | None, typer.Option(help="yes | no")] = None,
    infrastructure: Annotated[
        str | None, typer.Option(help="gcp | aws | azure | self-hosted")
    ] = None,
    team: Annotated[str | None, typer.Option(help="pytorch | tensorflow | none")] = None,
    max_speed: Annotated[str | None, typer.Option(help="yes | no")] = None,
    interactive: Annotated[bool, typer.Option(help="ask unanswered questions")] = True,
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """A recommendation for your situation: decision tree + Speed Score + evidence."""
    from dlarena.decide.advisor import advise as run_advisor

    evidence, chosen, _, crit = _decision_inputs(profile, store, run, weight)
    chosen = chosen.with_answers(
        {
            "focus": focus,
            "mobile_edge": mobile_edge,
            "infrastructure": infrastructure,
            "team_expertise": team,
            "max_training_speed": max_speed,
        }
    )
    if interactive and sys.stdin.isatty() and format == Format.table:
        chosen = chosen.with_answers(_ask(chosen))
    advice = run_advisor(evidence, crit, chosen)
    if format == Format.json:
        _emit_json(dataclasses.asdict(advice))
        return
    out.print(
        f"[bold]recommendation:[/] {advice.recommendation}   runner-up: "
        f"{advice.runner_up}   confidence: {advice.confidence:.0%}"
    )
    for line in advice.rationale:
        out.print(f"  - {escape(line)}", soft_wrap=True)
    for warning in advice.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _ask(chosen: Any) -> dict[str, str]:
    from rich.prompt import Prompt

    from dlarena.decide.advisor import load_tree

    answers = {}
    for question in load_tree()[0]:
        if chosen.answer(question["id"]) is None:
            for answer, detail in question["answers"].items():
                out.print(f"  [bold]{answer}[/]: {detail['meaning']}")
            answers[question["id"]] = Prompt.ask(
                question["text"], choices=list(question["answers"])
            )
    return answers


@app.command()
def cost(
    profile: ProfileOpt = None,
    years: Annotated[int, typer.Option(help="years of ownership")] = 3,
    upfront: Annotated[float | None, typer.Option(help="your upfront cost (USD)")] = None,
    compute: Annotated[float | None, typer.Option(help="your annual compute (USD)")] = None,
    labor: Annotated[float | None, typer.Option(help="your annual labor (USD)")] = None,
    samples: Annotated[float, typer.Option(help="training samples to price per framework")] = 1e9,
    price_per_hour: Annotated[float, typer.Option(help="USD per machine-hour")] = 1.0,
    workload: Annotated[str, typer.Option(help="measured workload to price")] = "cnn",
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Three-year cost scenarios (checked against the comparison) and measured training cost."""
    from dlarena.decide.cost import PUBLISHED, Scenario, check, training_cost

    chosen, _, _, cells = _measured(profile, store, run, [])
    scenarios = [check(s, years) for s in PUBLISHED]
    if None not in (upfront, compute, labor):
        scenarios.append(check(Scenario("yours", upfront or 0, compute or 0, labor or 0), years))
    training = training_cost(cells, samples, price_per_hour, workload, chosen.tiers)
    if format == Format.json:
        _emit_json(
            {
                "scenarios": scenarios,
                "training": training,
                "samples": samples,
                "price_per_hour": price_per_hour,
                "workload": workload,
            }
        )
        return
    table = Table(title=f"{years}-year cost of ownership (USD)")
    for column in ("scenario", "upfront", "compute/yr", "labor/yr", "total", "published"):
        table.add_column(column)
    for s in scenarios:
        published = "-" if s["published_total"] is None else f"{s['published_total']:,.0f}"
        table.add_row(
            s["name"],
            f"{s['upfront']:,.0f}",
            f"{s['annual_compute']:,.0f}",
            f"{s['annual_labor']:,.0f}",
            f"{s['total']:,.0f}",
            published + ("" if s["follows"] else " !"),
        )
    out.print(table)
    for s in scenarios:
        if not s["follows"]:
            err.print(f"[yellow]warning:[/] {s['name']}: {s['note']}", soft_wrap=True)
    table = Table(
        title=f"training {samples:,.0f} samples of '{workload}' at "
        f"${price_per_hour:g}/hour, from measured throughput"
    )
    for column in ("framework", "tier", "samples/s", "hours", "cost (USD)"):
        table.add_column(column)
    for row in training:
        if row["measured"]:
            table.add_row(
                row["framework"],
                row["tier"],
                f"{row['samples_per_s']:,.0f}",
                f"{row['hours']:,.1f}",
                f"{row['cost']:,.2f}",
            )
        else:
            table.add_row(row["framework"], "-", "not measured", "-", "-")
    out.print(table)


@envs_app.command("list")
def envs_list(format: FormatOpt = Format.table) -> None:
    """Known environments, where they live and whether they are created."""
    home = envs.dlarena_home()
    rows = [
        {
            "name": e.name,
            "created": e.exists(),
            "python": e.python,
            "requirements": str(e.requirements) if e.requirements else None,
        }
        for e in envs.environments(home).values()
    ]
    if format == Format.json:
        _emit_json(rows)
        return
    table = Table(title=f"environments in {home}")
    for column in ("name", "created", "python", "requirements"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(fmt(row[c]) for c in ("name", "created", "python", "requirements")))
    out.print(table)


@envs_app.command("create")
def envs_create(name: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Create environments (all by default); an up-to-date one is left as it is."""
    home = envs.dlarena_home()
    targets = (
        [envs.get(n, home) for n in name]
        if name
        else [e for e in envs.environments(home).values() if e.requirements is not None]
    )
    for env in targets:
        with err.status(f"creating env '{env.name}'") as status:

            def show(line: str, env_name: str = env.name, spinner: Any = status) -> None:
                spinner.update(f"env '{env_name}': {line[:100]}")

            created = envs.create(env, show)
        err.print(f"env '{env.name}': {'created' if created else 'up to date'} ({env.python})")


@envs_app.command("check")
def envs_check(format: FormatOpt = Format.table) -> None:
    """Which runtime each environment can serve, with versions."""
    home = envs.dlarena_home()
    result = {
        e.name: envs.installed_versions(e) if e.exists() else None
        for e in envs.environments(home).values()
    }
    if format == Format.json:
        _emit_json(result)
        return
    table = Table(title="runtime versions per environment")
    table.add_column("env")
    for runtime in RUNTIMES:
        table.add_column(runtime)
    for env_name, versions in result.items():
        cells = [fmt((versions or {}).get(r)) if versions else "not created" for r in RUNTIMES]
        table.add_row(env_name, *cells)
    out.print(table)


def main() -> None:
    try:
        app()
    except DlarenaError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
