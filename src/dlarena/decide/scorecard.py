"""The scorecard: criteria, Speed Score, ranking and sensitivity, computed once for every reader
(`score`, `advise`, the report)."""

from __future__ import annotations

import dataclasses

import numpy as np

from dlarena.decide.criteria import Criterion, criteria, published_criteria
from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.scoring import Sensitivity, ranking, sensitivity, speed_scores
from dlarena.evidence import Evidence
from dlarena.frameworks import FRAMEWORKS
from dlarena.store.selection import Selection


@dataclasses.dataclass(frozen=True)
class Scorecard:
    profile: Profile
    selection: Selection  # the measured figures behind the performance criterion
    criteria: dict[str, dict[str, Criterion]]  # framework -> criterion -> value with its basis
    values: np.ndarray  # (frameworks, criteria), rows in FRAMEWORKS order
    log_sd: np.ndarray  # (frameworks, criteria): the sd of log(value) measurement leaves
    weights: np.ndarray  # (criteria,)
    ranking: tuple[tuple[str, float], ...]  # best first
    sensitivity: Sensitivity

    @property
    def speed_scores(self) -> dict[str, float]:
        return dict(self.ranking)


def criteria_matrix(crit: dict[str, dict[str, Criterion]], field: str = "value") -> np.ndarray:
    """(frameworks, criteria) values (or another field) in FRAMEWORKS and CRITERIA order."""
    return np.array([[getattr(crit[f][c], field) for c in CRITERIA] for f in FRAMEWORKS])


def scorecard(
    evidence: Evidence,
    selection: Selection,
    profile: Profile,
    published_only: bool = False,
) -> Scorecard:
    """Measured, computed and published criteria weighed by the profile; or, with
    `published_only`, the comparison's own ratings with equal weights (answers and
    requirements kept)."""
    if published_only:
        profile = dataclasses.replace(profile, name="published", weights=Profile().weights)
        crit = published_criteria(evidence)
    else:
        crit = criteria(evidence, selection.cells, selection.source, profile)
    values = criteria_matrix(crit)
    weights = np.array(profile.weight_vector())
    return Scorecard(
        profile=profile,
        selection=selection,
        criteria=crit,
        values=values,
        log_sd=criteria_matrix(crit, "log_sd"),
        weights=weights,
        ranking=tuple(ranking(list(FRAMEWORKS), speed_scores(values, weights))),
        sensitivity=sensitivity(list(FRAMEWORKS), values, weights, CRITERIA),
    )
