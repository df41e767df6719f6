"""Parity metrics and the tolerances of the gate.

Why these checks and tolerances:
- Forward logits are compared elementwise with a float64 NumPy reference, scaled by the
  reference's largest magnitude: float32 accumulation over a few hundred terms stays well under
  1e-5 of that scale, while a wrong layout or a missing bias is off by 1e-1 or more.
- Gradients (at the canonical weights) and parameter displacement after a few optimizer steps
  are compared as relative L2 errors per tensor, ||a - b|| / ||b||. An elementwise test would be
  dominated by the few ReLU pre-activations that sit within float32 rounding of zero and flip,
  letting one hidden unit drift (2e-5 after 200 steps was seen), or by Adam's near-sign updates
  of gradients that are almost zero; the L2 ratio stays meaningful and still catches a wrong
  learning rate, momentum convention or batch-norm formula (errors of 1e-2 or more).
- Displacement (params_after - params_before) is compared, not the parameters, because after
  three small steps the parameters are still dominated by their identical starting values.
- Only three steps: parity asks "same math", and longer runs compound rounding chaotically.
"""

from __future__ import annotations

import numpy as np

from dlarena.records import ParityCheck

PARITY_STEPS = 3
TOLERANCES = {
    "forward": 1e-4,  # max |a - b| / max |ref|
    "loss": 1e-4,  # max relative error of the losses over the steps
    "grads": 1e-3,  # max over tensors of relative L2 error
    "params": 1e-2,  # max over tensors of relative L2 error of the displacement
}


def scaled_max_diff(actual: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max absolute difference, that difference over the reference's largest magnitude)."""
    diff = float(np.max(np.abs(np.asarray(actual, np.float64) - reference)))
    return diff, diff / max(float(np.max(np.abs(reference))), 1e-12)


def tensors_relative_l2(actual: dict, reference: dict) -> tuple[float, float]:
    """(max absolute difference, max relative L2 error) over a set of named tensors."""
    worst_abs, worst_rel = 0.0, 0.0
    for key, ref in reference.items():
        delta = np.asarray(actual[key], np.float64) - ref
        worst_abs = max(worst_abs, float(np.max(np.abs(delta))))
        worst_rel = max(
            worst_rel, float(np.linalg.norm(delta)) / max(float(np.linalg.norm(ref)), 1e-12)
        )
    return worst_abs, worst_rel


def check(name: str, max_abs: float, max_rel: float) -> ParityCheck:
    """One parity record: the figures, the tolerance and the verdict."""
    tolerance = TOLERANCES[name]
    return ParityCheck(name, float(max_abs), float(max_rel), tolerance, bool(max_rel <= tolerance))


def training_checks(
    loss0: float,
    losses: list[float],
    grads: dict,
    moved: dict,
    ref: dict,
    ref_moved: dict,
) -> list[ParityCheck]:
    """Loss over the steps, gradients at the canonical weights, displacement after the steps."""
    loss_abs, _ = scaled_max_diff(np.array(losses), ref["losses"])
    loss_rel = float(np.max(np.abs(np.array(losses) - ref["losses"]) / np.abs(ref["losses"])))
    return [
        check("loss", max(loss_abs, abs(loss0 - ref["losses"][0])), loss_rel),
        check("grads", *tensors_relative_l2(grads, ref["grads"])),
        check("params", *tensors_relative_l2(moved, ref_moved)),
    ]
