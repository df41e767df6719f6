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

from dlarena.codec import decode
from dlarena.errors import FrameworkUnavailable
from dlarena.fidelity.records import FidelityResult, FidelityTask
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
    full: FidelityResult  # the parameter counts at the published shape
    timed: FidelityResult  # the step times at the CPU-sized shape
    timed_shape: str | None = None

    @property
    def status(self) -> str:
        """ok, or the first comparison's that was not: not installed | failed."""
        return next((r.status for r in (self.full, self.timed) if r.status != "ok"), "ok")

    @property
    def error(self) -> str | None:
        return self.full.error or self.timed.error

    @property
    def parameters_match(self) -> bool | None:
        if self.status != "ok":
            return None
        spec = spec_from_dict(self.reference.full(), self.reference.workload)
        difference = (self.full.reference_parameters or 0) - (self.full.dlarena_parameters or 0)
        return difference == self.reference.expected_difference(spec)

    @property
    def step_ratio(self) -> float | None:
        """dlarena's step time over the reference's (above 1: dlarena's model is slower)."""
        if self.status != "ok" or not self.timed.reference_step_s:
            return None
        return (self.timed.dlarena_step_s or 0.0) / self.timed.reference_step_s

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
            "parameters_full": {
                "reference_parameters": self.full.reference_parameters,
                "dlarena_parameters": self.full.dlarena_parameters,
            },
            "parameters_match": self.parameters_match,
            "timed_shape": self.timed_shape,
            "reference_step_s": self.timed.reference_step_s,
            "dlarena_step_s": self.timed.dlarena_step_s,
            "step_ratio": self.step_ratio,
            "within_5_percent": self.within_tolerance,
            "version": self.timed.versions,
            "note": ref.difference_note,
        }


def probe(python: str, task: FidelityTask, timeout_s: float) -> FidelityResult:
    """Run one comparison in the runtime's environment, on the task's CPUs like a worker."""
    try:
        line = run_module(python, "dlarena.fidelity.probe", task, task.threads, timeout_s)
    except ProbeFailed as exc:
        return FidelityResult("failed", error=str(exc))
    return decode(FidelityResult, line)


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
            none = FidelityResult("failed", error=str(exc))
            rows.append(FidelityRow(ref, none, none))
            continue
        on_progress(f"{ref.name}: full shape")
        full = spec_from_dict(ref.full(), ref.workload)
        counted = probe(python, FidelityTask(ref.name, full.to_dict(), threads, True), timeout_s)
        on_progress(f"{ref.name}: timed shape")
        shape = spec_from_dict(ref.timed(), ref.workload)
        task = FidelityTask(ref.name, shape.to_dict(), threads, False, rounds, steps)
        timed = probe(python, task, timeout_s)
        at = f"{list(shape.input_shape)} batch {shape.batch_size}"
        rows.append(FidelityRow(ref, counted, timed, at))
    return rows
