"""Parity metrics and the tolerances of the gate, derived from float32 rounding.

Why these checks:
- Forward logits are compared elementwise with a float64 NumPy reference, scaled by the
  reference's largest magnitude (on the full batch: ReLU and max-pool are continuous, so a
  decision that flips on rounding moves the output by no more than the rounding).
- Gradients (at the canonical weights) and parameter displacement after PARITY_STEPS optimizer
  steps are relative L2 errors per tensor, ||a - b|| / ||b||, on the parity batch, whose
  decisions are conditioned away from their boundaries (spec/conditioning.py): a flipped ReLU
  would otherwise move one tensor by about 1/sqrt(rows x units).
- Displacement (params_after - params_before) is compared, not the parameters, because after a
  few small steps the parameters are still dominated by their identical starting values. The
  displacement is a difference of float32 numbers much larger than it: each step rounds the
  parameter to u |p|, so the displacement carries PARITY_STEPS * u * ||p|| / ||displacement||
  of cancellation on top of the gradients' error (5.9e-6 on `mlp`, 1.7e-4 on `cnn`, in every
  framework alike); each tensor's params tolerance adds that term, computed from the reference.
- A tensor whose true gradient is zero or nearly (a conv bias right before batch norm, the key
  projection's bias in attention: softmax ignores what it adds) holds only rounding noise in
  float32, and its own norm is no yardstick. Each tensor is measured against at least
  ZERO_GRADIENT_SHARE of the gradient a tensor of its size has on average in this model
  (`floors`): a large tensor is judged relative to itself, a near-zero one in absolute terms.
  Under Adam that is not enough: its per-element normalization turns any rounding noise into
  steps the size of the learning rate, in float32 and float64 alike but in different
  directions. A tensor whose float64 gradient is at rounding level (ZERO_LEVEL of the model's
  RMS gradient element: zero but for rounding) is checked against what Adam allows instead:
  each element moved by at most ADAM_STEP_SLACK x the learning rate per step on either side;
  the params record's note says how many were checked that way.

Why these tolerances (see `tolerances`): float32 has unit roundoff u = 2^-24. A dot product of
fan-in K accumulates a relative error of about u * sqrt(K) (random-walk rounding; sgemm's
blocked sums do no worse), and each layer on the way adds its own: about u * sqrt(K) * depth for
the logits. The loss and gradients see the same, and backpropagation walks the depth once more:
twice that. Each optimizer step adds the gradient's error again: the displacement after n steps
carries about n times it. Every bound is SAFETY times that estimate: correct implementations
measured here sit 6-100x below it (worst: MXNet's cnn gradients, 1.9e-5 against 1.1e-4), while
the mistakes the gate exists for (a tanh-approximate GELU, a 1e-3 error in one layer, a
transposed kernel, a missing bias, momentum, Nesterov or Adam epsilon conventions) are above it.

Mixed precision (bf16, fp16 over float32 parameters) adds its compute type's rounding: about u
per layer, summed in float32 (`mixed_error`), and a loss that carries only the compute type's
bits fails (`loss_check`); docs/measuring.md gives the measured margins.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dlarena.records import ParityCheck
from dlarena.spec.model import Workload
from dlarena.spec.shapes import parameter_shapes

PARITY_STEPS = 3
U = 2.0**-24  # float32 unit roundoff
# Mixed precision's compute types (float32 parameters): their unit roundoff, and the bits of
# their significands (the implicit one included; float32 has 24)
U_MIXED = {"bf16": 2.0**-8, "fp16": 2.0**-11}
BITS = {"bf16": 8, "fp16": 11}
SAFETY = 8.0
FLOOR = 1e-6  # below this, float64 vs float32 transcendental functions alone differ
ZERO_GRADIENT_SHARE = 0.1
ZERO_LEVEL = 1e-9
ADAM_STEP_SLACK = 1.5  # Adam's step is lr x m/sqrt(v): 1 on the first step, about 1 after


def shape_of_error(workload: Workload) -> tuple[int, int]:
    """(largest fan-in, number of layers with a kernel): what float32 error grows with."""
    kernels = [s for k, s in parameter_shapes(workload).items() if k.endswith("kernel")]
    fan_in = max((int(np.prod(s[:-1])) for s in kernels), default=1)
    return fan_in, max(len(kernels), 1)


def mixed_error(precision: str, depth: int) -> float:
    """What mixed precision adds to the logits' error: every layer rounds its operands and its
    output to the compute type, about u each, while the sums stay float32 (so, unlike
    float32's own rounding, it does not grow with the fan-in); 0 in float32."""
    return U_MIXED.get(precision, 0.0) * depth


def tolerances(workload: Workload) -> dict[str, float]:
    """Each check's bound for this workload (see the module docstring for the derivation)."""
    fan_in, depth = shape_of_error(workload)
    own = U * math.sqrt(fan_in) * depth  # float32's rounding
    mixed = mixed_error(workload.precision, depth)
    forward = own + mixed
    adam = workload.optimizer.name in ("adam", "adamw")  # AdamW: the same normalization
    return {
        "forward": max(FLOOR, SAFETY * forward),
        # an imported model's logits against ONNX Runtime on the original file: float32 both
        "original": max(FLOOR, SAFETY * forward),
        "loss": max(FLOOR, SAFETY * forward),
        "grads": max(FLOOR, SAFETY * 2 * forward),
        # each step adds float32's gradient error again; mixed precision's is the same batch's
        # rounding at nearly the same weights, step after step: once
        "params": max(FLOOR, SAFETY * 2 * (own * PARITY_STEPS + mixed)),
        # Adam's per-element normalization (0: not Adam): see the module docstring
        "adam_lr": workload.optimizer.learning_rate if adam else 0.0,
        "adam_epsilon": workload.optimizer.epsilon if adam else 0.0,
        # the significand of the compute type (0: float32): a float32 loss is not held to it
        "mixed_bits": float(BITS.get(workload.precision, 0)),
    }


def scaled_max_diff(actual: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max absolute difference, that difference over the reference's largest magnitude)."""
    diff = float(np.max(np.abs(np.asarray(actual, np.float64) - reference)))
    return diff, diff / max(float(np.max(np.abs(reference))), 1e-12)


def _rms(tensors: dict) -> float:
    """The root-mean-square element over every tensor."""
    total = sum(float(np.sum(np.square(v))) for v in tensors.values())
    return math.sqrt(total / max(sum(np.size(v) for v in tensors.values()), 1))


def zero_gradient(grads: dict) -> list[str]:
    """The tensors whose float64 gradient is zero but for rounding (a bias right before batch
    norm, attention's key bias): ZERO_LEVEL of the model's RMS gradient element or less."""
    level = ZERO_LEVEL * _rms(grads)
    return sorted(k for k, g in grads.items() if float(np.max(np.abs(g))) <= level)


def floors(reference: dict) -> dict[str, float]:
    """Per tensor, the norm its error is measured against: its own, or ZERO_GRADIENT_SHARE of
    the model's root-mean-square element times sqrt(its size), whichever is larger."""
    rms = _rms(reference)
    return {
        key: max(float(np.linalg.norm(v)), ZERO_GRADIENT_SHARE * rms * math.sqrt(np.size(v)), 1e-30)
        for key, v in reference.items()
    }


def tensors_relative_l2(actual: dict, reference: dict) -> tuple[float, float]:
    """(max absolute difference, max relative L2 error) over a set of named tensors."""
    worst_abs, worst_rel = 0.0, 0.0
    scale = floors(reference)
    for key, ref in reference.items():
        delta = np.asarray(actual[key], np.float64) - ref
        worst_abs = max(worst_abs, float(np.max(np.abs(delta))))
        worst_rel = max(worst_rel, float(np.linalg.norm(delta)) / scale[key])
    return worst_abs, worst_rel


def check(name: str, max_abs: float, max_rel: float, bounds: dict[str, float]) -> ParityCheck:
    """One parity record: the figures, the tolerance and the verdict."""
    tolerance = bounds[name]
    return ParityCheck(name, float(max_abs), float(max_rel), tolerance, bool(max_rel <= tolerance))


def as_output(logits: np.ndarray, output: str) -> np.ndarray:
    """Logits as an imported model's original file outputs them (spec.model.OUTPUTS): as they
    are, or their softmax or log-softmax over the classes, in float64."""
    z = np.asarray(logits, np.float64)
    if output == "logits":
        return z
    shifted = z - np.max(z, axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return np.exp(log_p) if output == "softmax" else log_p


def against_original(
    logits: np.ndarray, reference: np.ndarray, original: np.ndarray, output: str
) -> tuple[float, float]:
    """(max absolute difference, that over the largest value the reference gives in the
    original's output): a framework's logits against the original file's output."""
    expected = as_output(reference, output)
    diff = float(np.max(np.abs(as_output(logits, output) - original)))
    return diff, diff / max(float(np.max(np.abs(expected))), 1e-12)


def forward_checks(logits: np.ndarray, ref: dict, bounds: dict[str, float]) -> list[ParityCheck]:
    """The logits against the float64 reference and, for an imported model whose original file
    was run, against the original's output (scaled by the reference's largest value)."""
    found = [check("forward", *scaled_max_diff(logits, ref["logits"]), bounds)]
    if "original_output" in ref:
        output = str(ref["original_applies"])
        diffs = against_original(logits, ref["logits"], ref["original_output"], output)
        found.append(check("original", *diffs, bounds))
    return found


def training_checks(
    loss0: float,
    losses: list[float],
    grads: dict,
    moved: dict,
    ref: dict,
    bounds: dict[str, float],
) -> list[ParityCheck]:
    """Loss over the steps, gradients at the canonical weights, displacement after the steps."""
    ref_losses = ref["losses"]
    ref_moved = {k: v - ref["weights"][k].astype(np.float64) for k, v in ref["params"].items()}
    ours = np.array([loss0, *losses])
    theirs = np.array([ref_losses[0], *ref_losses])
    loss_abs = float(np.max(np.abs(ours - theirs)))
    loss_rel = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
    return [
        loss_check(ours, loss_abs, loss_rel, bounds),
        check("grads", *tensors_relative_l2(grads, ref["grads"]), bounds),
        displacement_check(moved, ref_moved, ref, bounds),
    ]


def on_grid(values: np.ndarray, bits: int) -> bool:
    """Whether every value is a number of `bits` significand bits (a float32 whose low 24 - bits
    significand bits are all 0): what a result computed in that type and widened is."""
    raw = np.asarray(values, np.float32).view(np.uint32)
    return bool(np.all(raw & np.uint32((1 << (24 - bits)) - 1) == 0))


def loss_check(ours: np.ndarray, loss_abs: float, loss_rel: float, bounds: dict) -> ParityCheck:
    """The losses against the reference; in mixed precision also their precision. A loss
    computed in the half type is within its tolerance of the reference (its rounding is smaller
    than the logits' own), but it carries only that type's bits: every float32 loss of the
    steps lying on that grid by chance has odds of 2^-(24 - bits) each."""
    found = check("loss", loss_abs, loss_rel, bounds)
    bits = int(bounds.get("mixed_bits", 0))
    if bits and on_grid(ours, bits):
        note = (
            f"every loss is a {bits}-bit-significand number: computed in the compute type, "
            "not in float32 as mixed precision keeps the loss"
        )
        return dataclasses.replace(found, passed=False, note=note)
    return found


def adam_noise(grad: np.ndarray, grads_bound: float, lr: float, epsilon: float) -> float:
    """How far float32 gradient error can move a tensor through Adam's normalization, over
    PARITY_STEPS steps (the norm over its elements; see the module docstring)."""
    error = grads_bound * float(np.sqrt(np.mean(np.square(grad))))
    share = np.minimum(1.0, error / (np.abs(grad) + epsilon))
    return PARITY_STEPS * lr * float(np.linalg.norm(share))


def displacement_check(moved: dict, ref_moved: dict, ref: dict, bounds: dict) -> ParityCheck:
    """Each tensor against the bound plus its own cancellation term (and, under Adam, its
    normalization of near-zero gradients); the worst one reported. Under Adam, a tensor with a
    zero true gradient is held to Adam's largest steps instead (`_adam_bound`)."""
    worst: ParityCheck | None = None
    scales = floors(ref_moved)
    lr, epsilon = bounds["adam_lr"], bounds["adam_epsilon"]
    zero = [k for k in zero_gradient(ref["grads"]) if k in ref_moved] if lr else []
    for key, expected in ref_moved.items():
        if key in zero:
            continue
        delta = np.asarray(moved[key], np.float64) - expected
        scale = scales[key]
        rel = float(np.linalg.norm(delta)) / scale
        cancel = PARITY_STEPS * U * float(np.linalg.norm(ref["params"][key])) / scale
        if lr:
            cancel += adam_noise(ref["grads"][key], bounds["grads"], lr, epsilon) / scale
        tolerance = bounds["params"] + cancel  # cancel: twice the worst case of the roundings
        found = ParityCheck(
            "params", float(np.max(np.abs(delta))), rel, tolerance, rel <= tolerance
        )
        if worst is None or rel / tolerance > worst.max_rel / worst.tolerance:
            worst = found
    if not zero:
        assert worst is not None, "a trainable workload has parameters"
        return worst
    return _adam_bound(worst, zero, moved, ref_moved, lr)


def _adam_bound(
    worst: ParityCheck | None, zero: list[str], moved: dict, ref_moved: dict, lr: float
) -> ParityCheck:
    """The params record with the zero-gradient tensors held to Adam's largest steps: each
    element within 2 x ADAM_STEP_SLACK x lr x PARITY_STEPS of the reference (either side may
    have stepped the full learning rate either way); failing where one moved further."""
    bound = 2 * ADAM_STEP_SLACK * lr * PARITY_STEPS
    far = max(float(np.max(np.abs(np.asarray(moved[k], np.float64) - ref_moved[k]))) for k in zero)
    note = (
        f"{len(zero)} tensor(s) with a zero true gradient ({', '.join(zero[:3])}"
        f"{', ...' if len(zero) > 3 else ''}: float64 gradient at rounding level) checked against "
        f"Adam's largest steps instead: moved {far:.1e} from the reference, bound {bound:.1e}"
    )
    if far > bound or worst is None:
        return ParityCheck("params", far, far / bound, 1.0, far <= bound, note)
    return dataclasses.replace(worst, note=note)
