"""The Speed Score table of a run, with evidence verdicts, for the reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.scorecard import scorecard
from dlarena.evidence import gather
from dlarena.records import CellResult

DECISION_COLUMNS = ("framework", *CRITERIA, "speed_score", "health", "risk", "excluded_by")


def decision_rows(store: Any, run_id: int, cells: Sequence[CellResult]) -> list[dict[str, Any]]:
    """Equal-weight Speed Scores from the run's cells and the evidence (snapshot and store)."""
    evidence = gather(store)
    card = scorecard(evidence, cells, run_id, Profile())
    rows = []
    for framework, score in card.ranking:
        assessment = evidence.frameworks[framework].assessment
        excluded = [r.name for r in assessment.exclusions if r.verdict == "excluded"]
        crit = card.criteria[framework]
        rows.append(
            {
                "framework": framework,
                **{c: crit[c].short() for c in CRITERIA},
                "speed_score": round(score, 2),
                "health": assessment.health,
                "risk": assessment.risk_level,
                "excluded_by": "; ".join(excluded) or "-",
            }
        )
    return rows
