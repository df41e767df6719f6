"""What a scan says about a move to another framework: per file, what maps directly, with a
note, or not at all; and the size of the move in engineer-weeks, from the counts, by a model
whose every coefficient says where it comes from."""

from __future__ import annotations

import collections

from dlarena.migrate.mapping import MAPPING, Mapping
from dlarena.migrate.records import ApiMove, Estimate, FileMove, ServingOnly
from dlarena.migrate.scan import FileScan

KINDS = ("direct", "note", "none", "unknown")
SOURCE = (
    "the comparison (seed, Jan 2024): 'Migration cost: 2-6 months for mid-sized teams (10-50 "
    "models)'; 'Rewrite training code (2-6 months for mid-sized teams)'"
)
WEEKS_PER_MONTH = 52 / 12
TEAM = 4  # engineers in a "mid-sized team": the comparison does not say; an assumption (--team)
# per model, team-months: the fast end (2 months over 50 models) and the slow end (6 over 10)
PER_MODEL_MONTHS = (2 / 50, 6 / 10)
# assumptions of dlarena's, not from a source: each call site with no equivalent is rewritten by
# hand (days), and a serving-only model moves through ONNX (weeks: export, import, the proof)
NO_EQUIVALENT_DAYS = (0.5, 2.0)
THROUGH_ONNX_WEEKS = (0.1, 0.5)


def file_moves(scans: list[FileScan], to: str, mapping: Mapping = MAPPING) -> list[FileMove]:
    """Per file using another framework: its call sites by how they move, most to rewrite
    first."""
    rows = []
    for scan in scans:
        counts = collections.Counter(
            mapping.target(c.concept, to)[0] for c in scan.calls if c.framework != to
        )
        if sum(counts.values()):
            rows.append(FileMove(scan.path, *(counts[kind] for kind in KINDS)))
    return sorted(rows, key=lambda r: (-r.none, -r.unknown, -r.note, r.file))


def api_moves(scans: list[FileScan], to: str, mapping: Mapping = MAPPING) -> list[ApiMove]:
    """Every API used from another framework, with its equivalent in `to` (or what to do), by
    how often it is called."""
    counts = collections.Counter(
        (c.api, c.framework, c.concept) for s in scans for c in s.calls if c.framework != to
    )
    rows = []
    for (api, framework, concept), count in counts.most_common():
        kind, equivalent = mapping.target(concept, to)
        rows.append(ApiMove(api, framework, count, kind, equivalent))
    order = {kind: i for i, kind in enumerate(("none", "unknown", "note", "direct"))}
    return sorted(rows, key=lambda r: (order[r.moves], -r.calls, r.api))


def serving_only(scans: list[FileScan], to: str) -> list[ServingOnly]:
    """The models whose framework is never trained anywhere in the codebase: they can move
    through ONNX instead of a rewrite."""
    trained = {c.framework for s in scans for c in s.calls if c.category == "training"}
    return [ServingOnly(s.path, name, framework) for s in scans for name, framework, _ in s.models
            if framework != to and framework not in trained]  # fmt: skip


def estimate(scans: list[FileScan], to: str, team: int = TEAM) -> Estimate:
    """Engineer-weeks to move every model of another framework to `to`."""
    onnx = serving_only(scans, to)
    models = [m for s in scans for m in s.models if m[1] != to]
    rewritten = len(models) - len(onnx)
    none = sum(r.calls for r in api_moves(scans, to) if r.moves == "none")
    per_model = [months * team * WEEKS_PER_MONTH for months in PER_MODEL_MONTHS]
    days = [d / 5 for d in NO_EQUIVALENT_DAYS]
    low, high = (
        rewritten * per_model[i] + none * days[i] + len(onnx) * THROUGH_ONNX_WEEKS[i]
        for i in (0, 1)
    )
    lines = (
        f"{rewritten} model(s) rewritten x {per_model[0]:.2g}-{per_model[1]:.2g} engineer-weeks "
        f"each: {PER_MODEL_MONTHS[0]:.2g}-{PER_MODEL_MONTHS[1]:.2g} team-months per model from "
        f"{SOURCE}, times a team of {team} (an assumption: the comparison does not size a "
        "'mid-sized team'; --team changes it)",
        f"{none} call site(s) with no equivalent x {NO_EQUIVALENT_DAYS[0]:g}-"
        f"{NO_EQUIVALENT_DAYS[1]:g} engineer-days each (dlarena's assumption, not from a "
        "source)",
        f"{len(onnx)} serving-only model(s) through ONNX x {THROUGH_ONNX_WEEKS[0]:g}-"
        f"{THROUGH_ONNX_WEEKS[1]:g} engineer-weeks each (dlarena's assumption: export, "
        "`dlarena import`, the proof)",
    )
    return Estimate(low, high, lines)


# the decision tree's team-expertise answers (decide/tree.yaml) and the frameworks they name
EXPERTISE = {"torch": "pytorch", "tensorflow": "tensorflow"}


def expertise(scans: list[FileScan]) -> tuple[str, str]:
    """The team-expertise answer a codebase gives (the framework most of its call sites use),
    and the line that says why."""
    counts = collections.Counter(c.framework for s in scans for c in s.calls)
    if not counts:
        return "none", "the code calls no framework: team expertise answered 'none'"
    framework, calls = counts.most_common(1)[0]
    share = f"{calls} of its {sum(counts.values())} framework call sites are {framework}'s"
    answer = EXPERTISE.get(framework, "none")
    if framework not in EXPERTISE:
        return (
            answer,
            f"{share}; the decision tree asks about PyTorch or TensorFlow expertise only: "
            "answered 'none'",
        )
    return answer, f"{share}: team expertise answered '{answer}' from the code"
