"""fidelity, host side: which reference each built-in is compared with, in which runtime's
environment and at which shape, and the comparison it prints.

Parameter counts are compared at the published (`full`) shape; step times at a CPU-sized shape
of the same architecture (the same code builds both, at both shapes), because a full-size
training step takes minutes on a CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlarena.errors import FrameworkUnavailable
from dlarena.probes.host import ProbeFailed, run_module
from dlarena.runner import envs
from dlarena.spec.architectures import resnet50
from dlarena.spec.model import Workload
from dlarena.spec.schema import spec_from_dict
from dlarena.spec.sequence_models import decoder, encoder

TOLERANCE = 0.05  # step times within 5% of each other


@dataclasses.dataclass(frozen=True)
class Reference:
    name: str  # probe key
    implementation: str  # what the user would recognise
    workload: str  # the built-in it stands for
    runtime: str  # whose environment and adapter
    full: Callable[[], dict[str, Any]]  # the published shape
    timed: Callable[[], dict[str, Any]]  # a CPU-sized shape of the same architecture
    expected_difference: Callable[[Workload], int]  # reference minus dlarena, by design
    difference_note: str
    env: str | None = None  # the environment holding the reference (None: the runtime's own)


def _no_difference(workload: Workload) -> int:
    return 0


def _token_type_row(workload: Workload) -> int:
    return workload.layers[0].attr("units")


REFERENCES = (
    Reference(
        "keras-resnet50",
        "keras.applications.ResNet50(weights=None)",
        "cnn",
        "tensorflow",
        lambda: resnet50(keras=True),
        lambda: resnet50(image=96, batch=8, keras=True),
        _no_difference,
        "compared with the v1 form Keras builds (stride in the first 1x1, conv biases); the "
        "built-in cnn full is torchvision's v1.5",
    ),
    Reference(
        "hf-bert",
        "transformers BertForSequenceClassification (random init)",
        "transformer",
        "torch",
        lambda: encoder(vocab=30522, seq=128, width=768, depth=12, heads=12, batch=32),
        lambda: encoder(vocab=30522, seq=128, width=256, depth=4, heads=4, batch=8),
        _token_type_row,
        "Hugging Face keeps one token-type embedding row (type_vocab_size=1) that dlarena "
        "leaves out; positions are the sequence length in both",
        "hf",
    ),
    Reference(
        "hf-gpt2",
        "transformers GPT2LMHeadModel (random init)",
        "gpt",
        "torch",
        lambda: decoder(vocab=50257, seq=1024, width=768, depth=12, heads=12, batch=8),
        lambda: decoder(vocab=50257, seq=128, width=256, depth=4, heads=4, batch=4),
        _no_difference,
        "the same architecture, head tied to the token embedding in both",
        "hf",
    ),
)


@dataclasses.dataclass(frozen=True)
class FidelityRow:
    reference: Reference
    status: str  # ok | not installed | failed
    full: dict[str, Any]
    timed: dict[str, Any]
    error: str | None = None

    @property
    def parameters_match(self) -> bool | None:
        if self.status != "ok":
            return None
        spec = spec_from_dict(self.reference.full(), self.reference.workload)
        difference = self.full["reference_parameters"] - self.full["dlarena_parameters"]
        return difference == self.reference.expected_difference(spec)

    @property
    def step_ratio(self) -> float | None:
        """dlarena's step time over the reference's (above 1: dlarena's model is slower)."""
        if self.status != "ok":
            return None
        return self.timed["dlarena_step_s"] / self.timed["reference_step_s"]

    @property
    def within_tolerance(self) -> bool | None:
        ratio = self.step_ratio
        return None if ratio is None else abs(ratio - 1.0) <= TOLERANCE

    def as_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {
            "reference": ref.name,
            "implementation": ref.implementation,
            "workload": ref.workload,
            "runtime": ref.runtime,
            "status": self.status,
            "error": self.error,
            "parameters_full": self.full,
            "parameters_match": self.parameters_match,
            "timed_shape": self.timed.get("shape"),
            "reference_step_s": self.timed.get("reference_step_s"),
            "dlarena_step_s": self.timed.get("dlarena_step_s"),
            "step_ratio": self.step_ratio,
            "within_5_percent": self.within_tolerance,
            "version": self.timed.get("version"),
            "note": ref.difference_note,
        }


def probe(python: str, task: dict[str, Any], threads: int, timeout_s: float) -> dict[str, Any]:
    """Run one comparison in the runtime's environment, on `threads` CPUs like a worker."""
    try:
        found: dict[str, Any] = run_module(
            python, "dlarena.fidelity.probe", task, threads, timeout_s
        )
    except ProbeFailed as exc:
        return {"status": "failed", "error": str(exc)}
    return found


def run(
    home: Path,
    threads: int,
    rounds: int,
    steps: int,
    on_progress: Callable[[str], None],
    timeout_s: float = 1800.0,
) -> list[FidelityRow]:
    rows = []
    for ref in REFERENCES:
        try:
            overrides = {ref.runtime: ref.env} if ref.env else {}
            python = envs.resolve(ref.runtime, home, overrides).python
        except FrameworkUnavailable as exc:
            rows.append(FidelityRow(ref, "failed", {}, {}, str(exc)))
            continue
        results = {}
        for label, build, fields in (
            ("full", ref.full, {"count_only": True}),
            ("timed", ref.timed, {"rounds": rounds, "steps": steps}),
        ):
            on_progress(f"{ref.name}: {label} shape")
            workload = spec_from_dict(build(), ref.workload)
            task = {"reference": ref.name, "workload": workload.to_dict(), "threads": threads}
            results[label] = probe(python, {**task, **fields}, threads, timeout_s)
            results[label]["shape"] = f"{list(workload.input_shape)} batch {workload.batch_size}"
        status = next((r["status"] for r in results.values() if r["status"] != "ok"), "ok")
        error = next((r.get("error") for r in results.values() if r.get("error")), None)
        rows.append(FidelityRow(ref, status, results["full"], results["timed"], error))
    return rows
