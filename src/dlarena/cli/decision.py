"""score, advise and cost: the decision, from the scorecard every one of them shares."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from dlarena.cli.common import (
    BUILTIN,
    Format,
    FormatOpt,
    ProfileOpt,
    RunOpt,
    SizeOpt,
    StoreOpt,
    WeightOpt,
    app,
    emit_json,
    err,
    open_store,
    out,
    parse_pairs,
    pinned_run,
    print_table,
    within,
)
from dlarena.errors import DlarenaError

if TYPE_CHECKING:
    from dlarena.decide.cost import ScenarioCheck, TrainingCost
    from dlarena.decide.profile import Profile
    from dlarena.decide.scorecard import Scorecard
    from dlarena.evidence import Evidence
    from dlarena.store.selection import Selection


def measured(
    profile_path: Path | None, store: Path | None, run: str | None, weights: list[str]
) -> tuple[Profile, Selection, Any]:
    """The profile (with --weight overrides), the figures that count (or one run's) and the
    store."""
    from dlarena.decide.profile import CRITERIA, load_profile, with_weights
    from dlarena.store.selection import current

    profile = with_weights(load_profile(profile_path), parse_pairs(weights, "--weight", CRITERIA))
    db = open_store(store)
    return profile, current(db, pinned_run(db, run)), db


def decision_inputs(
    profile: Profile, selection: Selection, db: Any, published: bool
) -> tuple[Evidence, Scorecard]:
    """The evidence and the one scorecard computed from it and the measured cells."""
    from dlarena.decide.scorecard import scorecard
    from dlarena.evidence import gather

    evidence = gather(db)
    return evidence, scorecard(evidence, selection, profile, published_only=published)


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
    from dlarena.decide.profile import CRITERIA

    _, card = decision_inputs(*measured(profile, store, run, weight), published_only)
    sens = card.sensitivity
    if format == Format.json:
        emit_json(
            {
                "profile": card.profile.name,
                "weights": dict(card.profile.weights),
                "measured": card.selection.source,
                "runs": list(card.selection.runs),
                "ranking": [{"framework": f, "speed_score": s} for f, s in card.ranking],
                "criteria": {
                    f: {c: dataclasses.asdict(v) for c, v in crit.items()}
                    for f, crit in card.criteria.items()
                },
                "sensitivity": dataclasses.asdict(sens),
            }
        )
        return
    print_table(
        f"Speed Score, profile '{card.profile.name}'",
        ("rank", "framework", *CRITERIA, "Speed Score", "P(first)"),
        (
            [
                str(position),
                framework,
                *(card.criteria[framework][c].short() for c in CRITERIA),
                f"{value:.2f}",
                f"{sens.p_first[framework]:.0%}",
            ]
            for position, (framework, value) in enumerate(card.ranking, start=1)
        ),
        caption="m = measured here, c = computed from evidence, o = observed by dlarena's probes "
        "(with the comparison's rating), p = the comparison's own rating (seed, Jan 2024), "
        "n = no figure",
    )
    leader = card.ranking[0][0]
    moved = [f"{c} x{k:g} -> {top}" for c, k, top in sens.one_at_a_time if top != leader]
    out.print(
        "one weight at a time (+-20%): "
        + ("; ".join(moved) if moved else f"{leader} stays first in every case")
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
    codebase: Annotated[
        Path | None,
        typer.Option(help="your code: answers --team from what it calls (dlarena migrate scan)"),
    ] = None,
    interactive: Annotated[bool, typer.Option(help="ask unanswered questions")] = True,
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """A recommendation for your situation: decision tree + Speed Score + evidence."""
    from dlarena.decide.advisor import advise as run_advisor

    read_from_code = None
    if codebase is not None and team is None:
        team, read_from_code = _expertise(codebase)
    chosen, selection, db = measured(profile, store, run, weight)
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
    evidence, card = decision_inputs(chosen, selection, db, published=False)
    advice = run_advisor(evidence, card)
    if format == Format.json:
        emit_json({**dataclasses.asdict(advice), "codebase": read_from_code})
        return
    if read_from_code is not None:
        out.print(f"your code ({codebase}): {escape(read_from_code)}", soft_wrap=True)
    out.print(
        f"[bold]recommendation:[/] {advice.recommendation}   runner-up: "
        f"{advice.runner_up}   confidence: {advice.confidence:.0%}"
    )
    out.print(f"  what would change it: {escape(advice.flip)}", soft_wrap=True)
    for line in advice.rationale:
        out.print(f"  - {escape(line)}", soft_wrap=True)
    for warning in advice.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _expertise(codebase: Path) -> tuple[str, str]:
    from dlarena.migrate.estimate import expertise
    from dlarena.migrate.scan import scan

    if not codebase.exists():
        raise DlarenaError(f"--codebase {codebase}: no such file or folder")
    return expertise(scan(codebase))


def _ask(chosen: Profile) -> dict[str, str | None]:
    from rich.prompt import Prompt

    from dlarena.decide.advisor import load_tree

    answers: dict[str, str | None] = {}
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
    years: Annotated[int, typer.Option(min=1, max=50, help="years of ownership")] = 3,
    upfront: Annotated[
        float | None, typer.Option(callback=within(0), help="your upfront cost (USD)")
    ] = None,
    compute: Annotated[
        float | None, typer.Option(callback=within(0), help="your annual compute (USD)")
    ] = None,
    labor: Annotated[
        float | None, typer.Option(callback=within(0), help="your annual labor (USD)")
    ] = None,
    samples: Annotated[
        float, typer.Option(callback=within(1), help="training samples to price per framework")
    ] = 1e9,
    price_per_hour: Annotated[
        float, typer.Option(callback=within(0), help="USD per machine-hour")
    ] = 1.0,
    workload: Annotated[str, typer.Option(help="measured workload to price")] = "cnn",
    size: SizeOpt = "small",
    run: RunOpt = None,
    store: StoreOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Three-year cost scenarios (checked against the comparison) and measured training cost."""
    from dlarena.decide.cost import PUBLISHED, Scenario, check, training_cost

    chosen, selection, _ = measured(profile, store, run, [])
    known = sorted(set(BUILTIN) | {c.workload for c in selection.cells})
    if workload not in known:
        raise DlarenaError(
            f"no workload '{workload}' to price: choose a built-in or a measured one "
            f"({', '.join(known)})"
        )
    scenarios = [check(s, years) for s in PUBLISHED]
    if None not in (upfront, compute, labor):
        scenarios.append(check(Scenario("yours", upfront or 0, compute or 0, labor or 0), years))
    training = training_cost(selection.cells, samples, price_per_hour, workload, chosen.tiers, size)
    if format == Format.json:
        emit_json(
            {
                "scenarios": [s.as_dict() for s in scenarios],
                "training": [row.as_dict() for row in training],
                "samples": samples,
                "price_per_hour": price_per_hour,
                "workload": workload,
            }
        )
        return
    _scenario_table(scenarios, years)
    print_table(
        f"training {samples:,.0f} samples of '{workload}' at "
        f"${price_per_hour:g}/hour, from measured throughput",
        ("framework", "tier", "samples/s", "hours", "cost (USD)"),
        (_training_row(row) for row in training),
    )


def _scenario_table(scenarios: list[ScenarioCheck], years: int) -> None:
    print_table(
        f"{years}-year cost of ownership (USD)",
        ("scenario", "upfront", "compute/yr", "labor/yr", "total", "published"),
        (
            [
                s.scenario.name,
                *(f"{v:,.0f}" for v in (s.scenario.upfront, s.scenario.annual_compute,
                                        s.scenario.annual_labor, s.total)),
                ("-" if s.scenario.published_total is None
                 else f"{s.scenario.published_total:,.0f}") + ("" if s.follows else " !"),
            ]
            for s in scenarios
        ),
    )  # fmt: skip
    for s in scenarios:
        if not s.follows:
            err.print(f"[yellow]warning:[/] {s.scenario.name}: {s.note}", soft_wrap=True)


def _training_row(row: TrainingCost) -> list[str]:
    if not row.measured:
        return [row.framework, "-", "not measured", "-", "-"]
    return [
        row.framework,
        row.tier or "-",
        f"{row.samples_per_s or 0:,.0f}",
        f"{row.hours or 0:,.1f}",
        f"{row.cost or 0:,.2f}",
    ]
