"""The workload spec: validation errors, serialization, weights and the float64 reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dlarena.errors import SpecError
from dlarena.spec import canonical_weights, parameter_shapes, reference, synthetic_batch
from dlarena.spec.loader import load_workload
from dlarena.spec.model import Workload, is_trainable
from dlarena.spec.schema import spec_from_dict

from .conftest import SPECS


def mlp_dict() -> dict:
    return load_workload("mlp").to_dict()


@pytest.mark.parametrize("name", ["mlp", "cnn", str(SPECS / "kitchen.yaml")])
def test_spec_round_trips_through_its_dict(name: str) -> None:
    workload = load_workload(name)
    assert Workload.from_dict(workload.to_dict()) == workload


def test_unknown_op_names_the_field_the_value_and_the_choices() -> None:
    with pytest.raises(
        SpecError, match=r"line 6: layers\[1\]\.op: 'swish' is not supported; allowed: dense"
    ):
        load_workload(str(SPECS / "broken_op.yaml"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("num_classes"), "num_classes: missing; add it"),
        (
            lambda d: d.update(batch_size=0),
            "batch_size: Input should be greater than or equal to 1",
        ),
        (lambda d: d.update(input_shape=[3, 4]), "input_shape must be \\[features\\] or"),
        (lambda d: d["layers"][0].update(units="many"), "layers\\[0\\].units: .*integer.*'many'"),
        (lambda d: d["layers"][1].update(inputs=["nowhere"]), "'nowhere' is not an earlier layer"),
        (lambda d: d["layers"][-1].update(units=7), "must give the logits, shape \\(10,\\)"),
        (
            lambda d: d["optimizer"].update(name="lamb"),
            "optimizer.name: Input should be 'sgd' or 'adam' \\(got 'lamb'\\)",
        ),
        (lambda d: d.update(colour="red"), "colour: unknown field 'colour'; allowed: name,"),
        (lambda d: d["layers"].insert(0, {"op": "conv2d", "filters": 4}), "needs an image input"),
        (lambda d: d.update(seed=-1), "seed: Input should be greater than or equal to 0"),
        (lambda d: d.update(input_shape=[True]), "input_shape\\[0\\]: .*integer"),
        (lambda d: d.update(name="../../x"), "name: String should match pattern"),
        (lambda d: d["layers"][0].update(name="a.b"), "layers\\[0\\].name: String should match"),
        (lambda d: d["optimizer"].update(learning_rate=float("nan")), "finite number"),
        (lambda d: d["optimizer"].update(momentum=-5.0), "momentum: Input should be greater"),
        (lambda d: d["optimizer"].update(epsilon=-1.0), "epsilon: Input should be greater than 0"),
        (
            lambda d: (d.update(batch_size=65536), d["layers"][0].update(units=40_000)),
            "batch_size 65536 needs .* activation values per step",
        ),
        (lambda d: d["layers"][0].update(units=1_000_000), "parameters; dlarena runs models of up"),
        (lambda d: d.update(layers=[]), "layers: List should have at least 1 item"),
        (lambda d: d["layers"][1].update(inputs=5), "layers\\[1\\].inputs: .*list"),
    ],
)
def test_broken_specs_are_rejected_with_the_field_named(change, message: str) -> None:
    data = mlp_dict()
    change(data)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data)


def test_missing_spec_file_says_what_is_accepted() -> None:
    with pytest.raises(SpecError, match="neither built in \\(mlp, cnn\\) nor an existing spec"):
        load_workload("no-such-workload.yaml")


def test_canonical_weights_are_seeded_and_shaped_by_the_spec() -> None:
    workload = load_workload("cnn")
    first, second = canonical_weights(workload), canonical_weights(workload)
    assert {k: v.shape for k, v in first.items()} == parameter_shapes(workload)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = canonical_weights(dataclasses.replace(workload, seed=1))
    assert not np.array_equal(first["stem.kernel"], other["stem.kernel"])


@pytest.mark.parametrize("name", ["mlp", "cnn", str(SPECS / "kitchen.yaml")])
def test_reference_gradients_match_finite_differences(name: str) -> None:
    workload = dataclasses.replace(load_workload(name), batch_size=3)
    params = {k: v.astype(np.float64) for k, v in canonical_weights(workload).items()}
    x, y = synthetic_batch(workload)

    def loss_at(p: dict) -> float:
        logits, _ = reference.forward(workload, p, x, training=True)
        return reference.softmax_cross_entropy(logits, y)[0]

    logits, cache = reference.forward(workload, params, x, training=True)
    grads = reference.backward(
        workload, params, cache, reference.softmax_cross_entropy(logits, y)[1]
    )
    rng = np.random.default_rng(0)
    for key, grad in grads.items():
        index = tuple(int(rng.integers(0, n)) for n in grad.shape)
        bumped = {k: v.copy() for k, v in params.items()}
        bumped[key][index] += 1e-6
        up = loss_at(bumped)
        bumped[key][index] -= 2e-6
        numeric = (up - loss_at(bumped)) / 2e-6
        assert abs(numeric - grad[index]) < 1e-7 + 1e-5 * abs(numeric), key


def test_reference_training_lowers_the_loss() -> None:
    workload = load_workload("mlp")
    x, y = synthetic_batch(workload)
    trace = reference.train_trace(workload, canonical_weights(workload), x, y, steps=5)
    assert trace["losses"][-1] < trace["losses"][0]


def test_flops_per_layer_match_hand_counts() -> None:
    from dlarena.spec.flops import forward_flops, step_flops

    mlp, cnn = load_workload("mlp"), load_workload("cnn")
    counted = forward_flops(mlp)
    assert counted["fc1"] == 256 * (2 * 256 + 1)  # 256 outputs, 256 multiply-adds and a bias
    assert counted["act1"] == 256 and counted["logits"] == 10 * (2 * 128 + 1)
    assert forward_flops(cnn)["stem"] == 32 * 32 * 16 * 2 * 3 * 3 * 3  # no bias
    assert forward_flops(cnn)["b2_conv1"] == 8 * 8 * 32 * 2 * 3 * 3 * 16  # 16x16 in, stride 2
    assert forward_flops(cnn)["pool"] == 16 * 16 * 16 * 4
    forward = sum(counted.values()) * mlp.batch_size
    assert step_flops(mlp, "infer") == forward
    parameters = 256 * 256 + 256 + 256 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert step_flops(mlp, "train") == 3 * forward + 4 * parameters


def test_size_presets_keep_the_default_workloads_and_reach_the_published_sizes() -> None:
    # small is the YAML the stored runs were measured with: its content hash must not move.
    assert load_workload("mlp", "small").content_hash == "a9edd15c7844434f"
    assert load_workload("cnn", "small").content_hash == "078ff581a476a6c7"
    trainable = {
        size: sum(
            math.prod(s)
            for k, s in parameter_shapes(load_workload("cnn", size)).items()
            if is_trainable(k)
        )
        for size in ("tiny", "full")
    }
    assert trainable["full"] == 25_557_032  # torchvision resnet50
    assert trainable["tiny"] < 2_000
    with pytest.raises(SpecError, match="--size full applies to the built-in workloads"):
        load_workload(str(SPECS / "kitchen.yaml"), "full")
    with pytest.raises(SpecError, match="size 'huge' is unknown; choose tiny, small, full"):
        load_workload("mlp", "huge")
