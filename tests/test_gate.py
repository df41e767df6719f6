"""The parity gate's power: the mistakes it exists for fail it, in training and in inference.

Each mistake is made in the float64 reference itself, so what the gate sees is the mistake's
effect alone; real float32 frameworks passing the same gate is tests/test_parity.py.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from dlarena.measure import parity
from dlarena.runner.reference import write_reference
from dlarena.spec import reference
from dlarena.spec.loader import load_workload
from dlarena.spec.model import Optimizer
from dlarena.spec.ops import OPS
from dlarena.twin import load_reference

from .conftest import SPECS


def verdicts(workload, ref, weights) -> dict[str, bool]:
    """Which checks pass for a 'framework' that computes like the (patched) reference."""
    bounds = parity.tolerances(workload)
    w64 = {k: v.astype(np.float64) for k, v in weights.items()}
    logits, _ = reference.forward(workload, w64, ref["x"], training=False)
    trace = reference.train_trace(
        workload, weights, ref["parity_x"], ref["parity_y"], parity.PARITY_STEPS
    )
    moved = {k: v - w64[k] for k, v in trace["params"].items()}
    losses = list(trace["losses"])
    checks = parity.forward_checks(logits, ref, bounds) + parity.training_checks(
        losses[0], losses, trace["grads"], moved, ref, bounds
    )
    return {c.check: c.passed for c in checks}


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    workload = load_workload("mlp")
    path = tmp_path_factory.mktemp("ref") / "mlp.npz"
    write_reference(workload, path)
    return workload, load_reference(str(path))


def test_the_reference_itself_passes_every_check(mlp):
    workload, ref = mlp
    assert verdicts(workload, ref, ref["weights"]) == dict.fromkeys(
        ("forward", "loss", "grads", "params"), True
    )


def tanh_gelu(layer, p, ins, training):
    x = ins[0]
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    return 0.5 * x * (1 + np.tanh(inner)), x


def one_layer_off(layer, p, ins, training):
    out, cache = DENSE(layer, p, ins, training)
    return (out * (1 + 1e-3) if layer.name == "fc2" else out), cache


DENSE = OPS["dense"].forward


@pytest.mark.parametrize(
    ("op", "patched"), [("gelu", tanh_gelu), ("dense", one_layer_off)], ids=["tanh_gelu", "1e-3"]
)
def test_a_different_forward_fails_in_inference_and_in_training(mlp, monkeypatch, op, patched):
    workload, ref = mlp
    monkeypatch.setitem(OPS, op, dataclasses.replace(OPS[op], forward=patched))
    found = verdicts(workload, ref, ref["weights"])
    assert not found["forward"] and not found["grads"], found


@pytest.mark.parametrize(
    "mistake",
    [
        lambda w: {**w, "fc2.kernel": np.ascontiguousarray(w["fc2.kernel"].T)},
        lambda w: {**w, "fc1.bias": np.zeros_like(w["fc1.bias"])},
    ],
    ids=["transposed_kernel", "missing_bias"],
)
def test_wrong_weights_fail_in_inference_and_in_training(mlp, mistake):
    workload, ref = mlp
    found = verdicts(workload, ref, mistake(ref["weights"]))
    assert not found["forward"] and not found["grads"] and not found["params"], found


def dampened_momentum(self, key, grad, rate):
    c = self.config
    velocity = self.state.setdefault(key, [np.zeros_like(grad)])
    velocity[0] = c.momentum * velocity[0] + (1 - c.momentum) * grad  # TF1-style dampening
    return rate * velocity[0]


def nesterov(self, key, grad, rate):
    c = self.config
    velocity = self.state.setdefault(key, [np.zeros_like(grad)])
    velocity[0] = c.momentum * velocity[0] + grad
    return rate * (grad + c.momentum * velocity[0])


def epsilon_inside_sqrt(self, key, grad, rate):
    c = self.config
    m, v = self.state.setdefault(key, [np.zeros_like(grad), np.zeros_like(grad)])
    m[:] = c.beta1 * m + (1 - c.beta1) * grad
    v[:] = c.beta2 * v + (1 - c.beta2) * grad**2
    m_hat, v_hat = m / (1 - c.beta1**self.step), v / (1 - c.beta2**self.step)
    return rate * m_hat / np.sqrt(v_hat + c.epsilon)


def rate_inside_momentum(self, key, grad, rate):
    """Keras's and MXNet's own SGD: m = momentum m + rate g (the same at a constant rate)."""
    velocity = self.state.setdefault(key, [np.zeros_like(grad)])
    velocity[0] = self.config.momentum * velocity[0] + rate * grad
    return velocity[0]


def l2_in_adam(self, params, grads):
    """Adam with L2 (the decay added to the gradient, through the moments), not AdamW's."""
    c = self.config
    rate = float(c.learning_rate_at(self.step, np))
    self.step += 1
    for key, grad in grads.items():
        params[key] -= reference._Optimizer._update(
            self, key, grad + c.weight_decay * params[key], rate
        )


def no_decay(self, params, grads):
    rate = float(self.config.learning_rate_at(self.step, np))
    self.step += 1
    for key, grad in grads.items():
        params[key] -= reference._Optimizer._update(self, key, grad, rate)


def schedule_one_step_late(self, step, xp):
    """MXNet's CosineScheduler as it counts: the first update asks for step 1."""
    return SPEC_RATE(self, step + 1, xp)


SPEC_RATE = Optimizer.learning_rate_at


@pytest.mark.parametrize(
    ("spec", "target", "mistake"),
    [
        ("mlp", (reference._Optimizer, "_update"), dampened_momentum),
        ("mlp", (reference._Optimizer, "_update"), nesterov),
        ("kitchen", (reference._Optimizer, "_update"), epsilon_inside_sqrt),
        ("sgd_cosine", (reference._Optimizer, "_update"), rate_inside_momentum),
        ("sgd_cosine", (Optimizer, "learning_rate_at"), schedule_one_step_late),
        ("adamw_cosine", (Optimizer, "learning_rate_at"), schedule_one_step_late),
        ("adamw_cosine", (reference._Optimizer, "apply"), l2_in_adam),
        ("adamw_cosine", (reference._Optimizer, "apply"), no_decay),
    ],
    ids=[
        "momentum_dampening", "nesterov", "adam_epsilon_inside_sqrt", "sgd_rate_inside_momentum",
        "sgd_schedule_one_step_late", "adamw_schedule_one_step_late", "adamw_as_adam_with_l2",
        "adamw_without_its_decay",
    ],
)  # fmt: skip
def test_a_wrong_optimizer_fails_the_training_checks(
    tmp_path: Path, monkeypatch, spec, target, mistake
):
    workload = load_workload(spec if spec == "mlp" else str(SPECS / f"{spec}.yaml"))
    write_reference(workload, tmp_path / "ref.npz")
    ref = load_reference(str(tmp_path / "ref.npz"))
    monkeypatch.setattr(*target, mistake)
    found = verdicts(workload, ref, ref["weights"])
    assert found["forward"] and found["grads"]  # the model is right, the optimizer is not
    assert not found["params"], found


@pytest.mark.slow  # seconds of float64 training traces, no worker
@pytest.mark.parametrize("name", ["mlp", "cnn", "recsys"])  # a transformer has no decision
def test_the_default_workloads_get_a_parity_batch_with_no_ambiguous_row(name: str) -> None:
    """At the size `bench --quick` runs (cnn: batch norm, whose rows share statistics; recsys:
    ReLUs after embeddings), conditioning clears every decision: an ambiguous row can fail a
    correct framework's training checks."""
    from dlarena.spec.conditioning import parity_batch
    from dlarena.spec.weights import canonical_weights

    workload = load_workload(name, "small")
    x, y, ambiguous = parity_batch(workload, canonical_weights(workload), parity.PARITY_STEPS)
    assert ambiguous == 0 and len(x) == len(y) == min(16, workload.batch_size)


def test_a_zero_gradient_under_adam_is_held_to_adams_steps_and_said(tmp_path: Path, monkeypatch):
    """Attention's key bias (true gradient zero) under Adam: the reference passes, the record
    names the tensor; one moved further than Adam's steps allow fails; a wrong Adam still fails."""
    workload = load_workload(str(SPECS / "adam_zero_gradient.yaml"))
    write_reference(workload, tmp_path / "ref.npz")
    ref = load_reference(str(tmp_path / "ref.npz"))
    assert parity.zero_gradient(ref["grads"]) == ["attn.k_bias"]
    bounds = parity.tolerances(workload)
    w64 = {k: v.astype(np.float64) for k, v in ref["weights"].items()}
    moved = {k: v - w64[k] for k, v in ref["params"].items()}
    ref_moved = dict(moved)
    rng = np.random.default_rng(0)  # float32 noise amplified: a full step of lr either way
    noisy = {**moved, "attn.k_bias": moved["attn.k_bias"] + rng.choice([-2e-3, 2e-3], 16)}
    found = parity.displacement_check(noisy, ref_moved, ref, bounds)
    assert found.passed and "1 tensor(s) with a zero true gradient (attn.k_bias" in found.note
    far = {**moved, "attn.k_bias": moved["attn.k_bias"] + 0.05}  # 50 learning rates
    found = parity.displacement_check(far, ref_moved, ref, bounds)
    assert not found.passed and "attn.k_bias" in found.note
    monkeypatch.setattr(reference._Optimizer, "_update", epsilon_inside_sqrt)
    assert not verdicts(workload, ref, ref["weights"])["params"]
