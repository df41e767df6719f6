"""A team's situation and priorities: criterion weights, hard requirements, answers to the tree."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from dlarena.errors import DlarenaError

CRITERIA = ("ecosystem", "maturity", "adoption", "learning", "performance")
REQUIREMENTS = ("mobile_edge", "tpu", "web", "multi_language")
# Each decision-tree question and its allowed answers (None: not answered yet).
ANSWERS: dict[str, tuple[str, ...]] = {
    "focus": ("research", "production", "both"),
    "mobile_edge": ("yes", "no"),
    "infrastructure": ("gcp", "aws", "azure", "self-hosted"),
    "team_expertise": ("pytorch", "tensorflow", "none"),
    "max_training_speed": ("yes", "no"),
}


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str = "default"
    weights: tuple[tuple[str, float], ...] = tuple((c, 1.0) for c in CRITERIA)
    requirements: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()
    workloads: tuple[str, ...] = ()  # empty: every workload in the store
    # Performance compares each framework's best-practice fast path unless a profile says so.
    tiers: tuple[str, ...] = ("compiled",)

    def weight_vector(self) -> list[float]:
        weights = dict(self.weights)
        return [weights[c] for c in CRITERIA]

    def answer(self, question: str) -> str | None:
        return dict(self.answers).get(question)

    def with_answers(self, answers: dict[str, str | None]) -> Profile:
        merged = {**dict(self.answers), **{k: v for k, v in answers.items() if v is not None}}
        for question, value in merged.items():
            _check_answer(question, value, "answer")
        return dataclasses.replace(self, answers=tuple(sorted(merged.items())))


def _check_answer(question: str, value: Any, where: str) -> None:
    if question not in ANSWERS:
        raise DlarenaError(f"{where}: unknown question '{question}'; known: {', '.join(ANSWERS)}")
    if value not in ANSWERS[question]:
        raise DlarenaError(
            f"{where}.{question}: {value!r} is not an answer; choose {', '.join(ANSWERS[question])}"
        )


def profile_from_dict(data: Any, name: str) -> Profile:
    if not isinstance(data, dict):
        raise DlarenaError(f"profile {name}: expected a mapping of settings")
    allowed = {"name", "weights", "requirements", "answers", "workloads", "tiers"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise DlarenaError(
            f"profile {name}: unknown field '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}"
        )
    weights = data.get("weights", {})
    if not isinstance(weights, dict):
        raise DlarenaError(f"profile {name}: weights must map criteria to numbers")
    for criterion, value in weights.items():
        if criterion not in CRITERIA:
            raise DlarenaError(
                f"profile {name}: weights.{criterion} is not a criterion; "
                f"choose from {', '.join(CRITERIA)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise DlarenaError(
                f"profile {name}: weights.{criterion} = {value!r} must be a number >= 0"
            )
    full = {c: float(weights.get(c, 1.0)) for c in CRITERIA}
    if sum(full.values()) <= 0:
        raise DlarenaError(f"profile {name}: all weights are zero; give at least one weight > 0")
    requirements = data.get("requirements", [])
    for requirement in requirements:
        if requirement not in REQUIREMENTS:
            raise DlarenaError(
                f"profile {name}: requirement '{requirement}' is unknown; choose "
                f"from {', '.join(REQUIREMENTS)}"
            )
    answers = data.get("answers", {})
    if not isinstance(answers, dict):
        raise DlarenaError(f"profile {name}: answers must map questions to answers")
    for question, value in answers.items():
        _check_answer(question, value, f"profile {name}: answers")
    return Profile(
        name=str(data.get("name", name)),
        weights=tuple(full.items()),
        requirements=tuple(requirements),
        answers=tuple(sorted(answers.items())),
        workloads=tuple(data.get("workloads", ())),
        tiers=tuple(data.get("tiers", ("compiled",))),
    )


def with_weights(profile: Profile, overrides: dict[str, str]) -> Profile:
    """The profile with some weights replaced (from --weight flags), validated like the file."""
    weights = {**dict(profile.weights)}
    for criterion, text in overrides.items():
        try:
            weights[criterion] = float(text)
        except ValueError:
            raise DlarenaError(f"--weight {criterion}={text}: {text!r} is not a number") from None
    data = {
        "weights": weights,
        "requirements": list(profile.requirements),
        "answers": dict(profile.answers),
        "workloads": list(profile.workloads),
        "tiers": list(profile.tiers),
    }
    return profile_from_dict(data, profile.name)


def load_profile(path: Path | None) -> Profile:
    if path is None:
        return Profile()
    if not path.is_file():
        raise DlarenaError(f"profile {path} does not exist; see examples/ for profiles to copy")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DlarenaError(f"profile {path}: not valid YAML ({exc})") from exc
    return profile_from_dict(data, str(path))
