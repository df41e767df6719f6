"""The Speed Score table of a run, with evidence verdicts, for the reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlarena.decide.criteria import criteria
from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.scoring import ranking, speed_scores
from dlarena.evidence import gather
from dlarena.evidence.snapshot import FRAMEWORKS

DECISION_COLUMNS = ("framework", *CRITERIA, "speed_score", "health", "risk", "excluded_by")


def decision_rows(store: Any, run_id: int, cells: list[Any]) -> list[dict[str, Any]]:
    """Equal-weight Speed Scores from the run's cells and the evidence (snapshot and store)."""
    evidence = gather(store)
    crit = criteria(evidence, cells, run_id, Profile())
    values = np.array([[crit[f][c].value for c in CRITERIA] for f in FRAMEWORKS])
    rows = []
    for framework, score in ranking(list(FRAMEWORKS), speed_scores(values, np.ones(len(CRITERIA)))):
        assessment = evidence.frameworks[framework].assessment
        excluded = [r.name for r in assessment.exclusions if r.verdict == "excluded"]
        rows.append(
            {
                "framework": framework,
                **{
                    c: f"{crit[framework][c].value:.1f} {crit[framework][c].basis[0]}"
                    for c in CRITERIA
                },
                "speed_score": round(score, 2),
                "health": assessment.health,
                "risk": assessment.risk_level,
                "excluded_by": "; ".join(excluded) or "-",
            }
        )
    return rows
