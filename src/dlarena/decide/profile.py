"""A team's situation and priorities: criterion weights, hard requirements, answers to the tree."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, model_validator

from dlarena.errors import DlarenaError
from dlarena.frameworks import TIERS
from dlarena.validation import Document, Name, Strict, read_document, validate

CRITERIA = ("ecosystem", "maturity", "adoption", "learning", "performance")
REQUIREMENTS = ("mobile_edge", "tpu", "web", "multi_language")


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
        """The profile with some answers given (from options), validated like the file."""
        merged = {**dict(self.answers), **{k: v for k, v in answers.items() if v is not None}}
        return profile_from_dict({**self.as_dict(), "answers": merged}, "the answers given")

    def as_dict(self) -> dict[str, Any]:
        """The profile as a profile file would say it."""
        return {
            "name": self.name,
            "weights": dict(self.weights),
            "requirements": list(self.requirements),
            "answers": dict(self.answers),
            "workloads": list(self.workloads),
            "tiers": list(self.tiers),
        }


def _yes_no(value: Any) -> Any:
    """YAML reads an unquoted yes/no as a boolean; take it as the answer it spells."""
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


YesNo = Annotated[Literal["yes", "no"] | None, BeforeValidator(_yes_no)]


class AnswersDoc(Strict):
    """Answers to the decision tree's questions (each may stay unanswered)."""

    focus: Literal["research", "production", "both"] | None = None
    mobile_edge: YesNo = None
    infrastructure: Literal["gcp", "aws", "azure", "self-hosted"] | None = None
    team_expertise: Literal["pytorch", "tensorflow", "none"] | None = None
    max_training_speed: YesNo = None


# Each decision-tree question and its allowed answers.
ANSWERS: dict[str, tuple[str, ...]] = {
    name: tuple(a for a in get_args(get_args(field.annotation)[0]))
    for name, field in AnswersDoc.model_fields.items()
}
Weight = Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)]


class ProfileDoc(Strict):
    """A profile file: a team's weights, hard requirements and answers to the decision tree."""

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    weights: dict[Literal[CRITERIA], Weight] = {}  # type: ignore[valid-type]
    requirements: list[Literal[REQUIREMENTS]] = []  # type: ignore[valid-type]
    answers: AnswersDoc = AnswersDoc()
    workloads: list[Name] = []
    tiers: Annotated[list[Literal[TIERS]], Field(min_length=1)] = ["compiled"]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _some_weight(self) -> ProfileDoc:
        if sum(self.weights.get(c, 1.0) for c in CRITERIA) <= 0:
            raise ValueError("all weights are zero; give at least one weight > 0")
        return self


def profile_from_dict(data: Any, origin: str) -> Profile:
    """A profile from parsed YAML (or from options), validated; errors name `origin`."""
    return parse_profile(Document(data, origin, {}))


def parse_profile(doc: Document) -> Profile:
    spec = validate(ProfileDoc, doc, "profile")
    answers = {k: v for k, v in spec.answers.model_dump().items() if v is not None}
    return Profile(
        name=spec.name or Path(doc.origin).stem,
        weights=tuple((c, float(spec.weights.get(c, 1.0))) for c in CRITERIA),
        requirements=tuple(spec.requirements),
        answers=tuple(sorted(answers.items())),
        workloads=tuple(spec.workloads),
        tiers=tuple(spec.tiers),
    )


def with_weights(profile: Profile, overrides: dict[str, str]) -> Profile:
    """The profile with some weights replaced (from --weight flags), validated like the file."""
    weights: dict[str, Any] = {**dict(profile.weights)}
    for criterion, text in overrides.items():
        try:
            weights[criterion] = float(text)
        except ValueError:
            raise DlarenaError(f"--weight {criterion}={text}: {text!r} is not a number") from None
    return profile_from_dict({**profile.as_dict(), "weights": weights}, "--weight")


def load_profile(path: Path | None) -> Profile:
    if path is None:
        return Profile()
    if not path.is_file():
        raise DlarenaError(f"profile {path} does not exist; see examples/ for profiles to copy")
    return parse_profile(read_document(path, "profile"))
