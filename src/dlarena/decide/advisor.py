"""The need-driven advisor (S3): the comparison's decision tree, read from data, combined with the
Speed Score, with a confidence and rationale lines that each point to evidence."""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from typing import Any

import numpy as np
import yaml

from dlarena.decide.criteria import Criterion
from dlarena.decide.profile import CRITERIA, Profile
from dlarena.decide.scorecard import Scorecard
from dlarena.decide.scoring import first_place_shares, speed_scores, weight_draws
from dlarena.evidence import Evidence
from dlarena.frameworks import FRAMEWORKS

MEETS = ("excellent", "good")
SEED_CITE = "[seed, 2026-03-06]"


@dataclasses.dataclass(frozen=True)
class Leaf:
    question: str
    text: str
    answer: str
    meaning: str
    votes: tuple[tuple[str, float], ...]
    because: str


@dataclasses.dataclass(frozen=True)
class Advice:
    recommendation: str | None
    runner_up: str | None
    confidence: float
    scores: dict[str, float]  # combined 0-1
    flip: str  # what would have to change for the runner-up to win
    speed_scores: dict[str, float]
    votes: dict[str, float]
    trail: tuple[Leaf, ...]
    rationale: tuple[str, ...]
    warnings: tuple[str, ...]


def load_tree() -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    text = resources.files("dlarena.decide").joinpath("tree.yaml").read_text()
    data = yaml.safe_load(text)
    return data["questions"], data["capabilities"]


def leaves() -> list[Leaf]:
    """Every (question, answer) of the tree."""
    questions, _ = load_tree()
    return [
        Leaf(q["id"], q["text"], str(answer), a["meaning"], tuple(a["votes"].items()), a["because"])
        for q in questions
        for answer, a in q["answers"].items()
    ]


def walk(profile: Profile) -> list[Leaf]:
    """The leaves the profile's answers reach, in question order."""
    return [leaf for leaf in leaves() if profile.answer(leaf.question) == leaf.answer]


def requirement_checks(profile: Profile) -> tuple[dict[str, list[str]], list[str]]:
    """Frameworks ruled out by a hard requirement (with why), and warnings for unknowns."""
    _, capabilities = load_tree()
    out: dict[str, list[str]] = {}
    warnings = []
    for requirement in profile.requirements:
        for framework in FRAMEWORKS:
            level = capabilities[requirement].get(framework, "unknown")
            if level == "unknown":
                warnings.append(
                    f"{framework}: the comparison does not state its {requirement} "
                    f"support; verify before relying on it {SEED_CITE}"
                )
            elif level not in MEETS:
                out.setdefault(framework, []).append(
                    f"requirement {requirement}: support is {level} {SEED_CITE}"
                )
    return out, warnings


def _votes(trail: list[Leaf]) -> dict[str, float]:
    votes = dict.fromkeys(FRAMEWORKS, 0.0)
    for leaf in trail:
        for framework, vote in leaf.votes:
            votes[framework] += vote
    return votes


def _combined(speed: np.ndarray, votes: dict[str, float]) -> np.ndarray:
    """Half the Speed Score (0-10 scaled to 0-1), half the tree's vote share, when answered."""
    total = sum(votes.values())
    if total == 0:
        return speed / 10
    share = np.array([votes[f] / total for f in FRAMEWORKS])
    return 0.5 * speed / 10 + 0.5 * (share[:, None] if speed.ndim == 2 else share)


def advise(evidence: Evidence, card: Scorecard) -> Advice:
    """The recommendation for the scorecard's profile (its answers, requirements and weights)."""
    values, weights, profile, crit = card.values, card.weights, card.profile, card.criteria
    trail = walk(profile)
    votes = _votes(trail)
    speed = speed_scores(values, weights)
    combined = _combined(speed, votes)
    ruled_out, warnings = requirement_checks(profile)
    for framework, fw in evidence.frameworks.items():
        for rule in fw.assessment.exclusions:
            if rule.verdict == "excluded":
                ruled_out.setdefault(framework, []).append(
                    f"S1 rule '{rule.name}': {rule.detail} "
                    f"[{rule.figure.source if rule.figure else '-'}]"
                )
    candidates = [f for f in FRAMEWORKS if f not in ruled_out]
    ranked = sorted(candidates, key=lambda f: -combined[FRAMEWORKS.index(f)])
    confidence = _confidence(card, votes, candidates, ranked)
    warnings += [f"{f} is not a candidate: {'; '.join(why)}" for f, why in ruled_out.items()]
    warnings += _antipattern(votes)
    return Advice(
        recommendation=ranked[0] if ranked else None,
        runner_up=ranked[1] if len(ranked) > 1 else None,
        confidence=confidence,
        scores={f: round(float(combined[i]), 4) for i, f in enumerate(FRAMEWORKS)},
        flip=_what_flips(card, votes, ranked),
        speed_scores={f: round(float(speed[i]), 3) for i, f in enumerate(FRAMEWORKS)},
        votes=votes,
        trail=tuple(trail),
        rationale=tuple(_rationale(trail, crit, ranked[0] if ranked else None)),
        warnings=tuple(warnings),
    )


def _confidence(
    card: Scorecard, votes: dict[str, float], candidates: list[str], ranked: list[str]
) -> float:
    """Share of draws in which the recommendation still ranks first: the weights drawn from a
    Dirichlet around the profile's, and each measured criterion from its interval (the log of
    the value normal, with the sd its ratios' intervals leave)."""
    if not ranked:
        return 0.0
    weights = weight_draws(card.weights)  # (draws, criteria)
    noise = np.random.default_rng(1).standard_normal((len(weights), *card.values.shape))
    values = card.values * np.exp(noise * card.log_sd)  # (draws, frameworks, criteria)
    speed = np.einsum("dfc,dc->fd", values, weights) / weights.sum(axis=1)
    index = [FRAMEWORKS.index(f) for f in candidates]
    combined = _combined(speed, votes)[index]
    return round(first_place_shares(candidates, combined)[ranked[0]], 3)


def flip_points(card: Scorecard, votes: dict[str, float], first: str, second: str) -> float:
    """Points of the performance criterion (0-10) that `second` would need on top of its own,
    at the profile's weights and answers, to tie with `first`."""
    combined = _combined(speed_scores(card.values, card.weights), votes)
    gap = combined[FRAMEWORKS.index(first)] - combined[FRAMEWORKS.index(second)]
    weight = card.weights[CRITERIA.index("performance")] / card.weights.sum()
    per_point = weight / 10 * (0.5 if sum(votes.values()) else 1.0)  # see _combined
    return float(gap / per_point) if per_point > 0 else math.inf


def _what_flips(card: Scorecard, votes: dict[str, float], ranked: list[str]) -> str:
    """The smallest change of the measured performance that would make the runner-up win: its
    criterion up, or the recommendation's down."""
    if len(ranked) < 2:
        return "no runner-up: nothing can flip the answer"
    first, second = ranked[0], ranked[1]
    points = flip_points(card, votes, first, second)
    column = CRITERIA.index("performance")
    theirs, ours = (card.values[FRAMEWORKS.index(f), column] for f in (second, first))
    if theirs + points > 10:
        return (
            f"no performance figure can flip it: {second} would need {points:.1f} more points of "
            "performance than the 0-10 scale holds; the other criteria, the weights or the "
            "answers decide"
        )
    fall = f", or {first}'s fell from {ours:.1f} to {ours - points:.1f}" if ours >= points else ""
    return (
        f"the answer flips to {second} if its performance rose from {theirs:.1f} to "
        f"{theirs + points:.1f} (its throughput x{(theirs + points) / max(theirs, 1e-9):.2f} "
        f"against the best){fall}"
    )


def _antipattern(votes: dict[str, float]) -> list[str]:
    top = sorted(votes.items(), key=lambda kv: -kv[1])
    if len(top) > 1 and top[1][1] > 0 and top[1][1] >= 0.75 * top[0][1]:
        return [
            f"your answers pull towards both {top[0][0]} ({top[0][1]:g} votes) and "
            f"{top[1][0]} ({top[1][1]:g}): the comparison warns against running several "
            f"frameworks (2-3x onboarding, split hiring, duplicate tooling) unless teams are "
            f"truly distinct {SEED_CITE}"
        ]
    return []


def _rationale(
    trail: list[Leaf], crit: dict[str, dict[str, Criterion]], best: str | None
) -> list[str]:
    lines = [
        f"{leaf.text} {leaf.answer} -> "
        f"{', '.join(f'{f} +{v:g}' for f, v in leaf.votes)}: {leaf.because} {SEED_CITE}"
        for leaf in trail
    ]
    if best is not None:
        for criterion in crit[best].values():
            lines.append(
                f"{best} {criterion.name} {criterion.value:.1f} ({criterion.basis}): "
                f"{' '.join(criterion.inputs[:2])}"
            )
    return lines
