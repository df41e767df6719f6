"""The Speed Score (weighted mean of the criteria), ranking, and how sensitive the ranking is."""

from __future__ import annotations

import dataclasses

import numpy as np

# Runner-up winning this share of the weight draws means the top two are within the noise.
CLOSE_CALL = 0.2


def speed_scores(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """values: (frameworks, criteria); weights: (criteria,) or (draws, criteria)."""
    weights = np.asarray(weights, dtype=np.float64)
    return values @ weights.T / weights.sum(axis=-1)


def ranking(names: list[str], scores: np.ndarray) -> list[tuple[str, float]]:
    """Best first; ties broken by name so the order is stable."""
    return sorted(
        zip(names, (float(s) for s in scores), strict=True),
        key=lambda pair: (-round(pair[1], 9), pair[0]),
    )


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    one_at_a_time: tuple[tuple[str, float, str], ...]  # (criterion, factor, leader)
    p_first: dict[str, float]
    close_call: bool


def one_at_a_time(
    names: list[str], values: np.ndarray, weights: np.ndarray, criteria: tuple[str, ...]
) -> list[tuple[str, float, str]]:
    """The leader when each weight alone moves by -20% and +20% (then renormalized)."""
    rows = []
    for index, criterion in enumerate(criteria):
        for factor in (0.8, 1.2):
            moved = np.array(weights, dtype=np.float64)
            moved[index] *= factor
            rows.append((criterion, factor, ranking(names, speed_scores(values, moved))[0][0]))
    return rows


def weight_draws(
    weights: np.ndarray, draws: int = 4000, concentration: float = 50.0, seed: int = 0
) -> np.ndarray:
    """(draws, criteria) weight vectors from a Dirichlet centred on the profile's weights."""
    w = np.asarray(weights, dtype=np.float64)
    alpha = np.maximum(concentration * w / w.sum(), 1e-3)
    return np.random.default_rng(seed).dirichlet(alpha, size=draws)


def first_place_shares(names: list[str], scores: np.ndarray) -> dict[str, float]:
    """Share of the draws (columns of `scores`, one row per name) that each name wins."""
    winners = np.argmax(scores, axis=0)
    counts = np.bincount(winners, minlength=len(names))
    return {name: float(count) / scores.shape[1] for name, count in zip(names, counts, strict=True)}


def monte_carlo(names: list[str], values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Probability of ranking first when weights are drawn from a Dirichlet around the profile."""
    return first_place_shares(names, speed_scores(values, weight_draws(weights)))


def sensitivity(
    names: list[str], values: np.ndarray, weights: np.ndarray, criteria: tuple[str, ...]
) -> Sensitivity:
    p_first = monte_carlo(names, values, weights)
    ordered = sorted(p_first.values(), reverse=True)
    return Sensitivity(
        tuple(one_at_a_time(names, values, weights, criteria)),
        p_first,
        len(ordered) > 1 and ordered[1] >= CLOSE_CALL,
    )
