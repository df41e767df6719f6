"""The workload spec: validation errors, serialization, weights and the float64 reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dlarena.errors import SpecError
from dlarena.spec import reference
from dlarena.spec.loader import load_workload
from dlarena.spec.model import Workload
from dlarena.spec.ops import OPS
from dlarena.spec.presets import SIZES
from dlarena.spec.schema import spec_from_dict
from dlarena.spec.shapes import is_trainable, parameter_shapes
from dlarena.spec.weights import canonical_weights, synthetic_batch

from .conftest import SPECS


def mlp_dict() -> dict:
    return load_workload("mlp").to_dict()


@pytest.mark.parametrize(
    "name",
    [
        "mlp",
        "cnn",
        "transformer",
        "gpt",
        "lstm",
        "recsys",
        str(SPECS / "kitchen.yaml"),
        str(SPECS / "joins.yaml"),
        str(SPECS / "sequence.yaml"),
    ],
)
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
            "optimizer.name: Input should be 'sgd', 'adam' or 'adamw' \\(got 'lamb'\\)",
        ),
        (
            lambda d: d["optimizer"].update(name="adam", weight_decay=0.01),
            "weight_decay is adamw's \\(decoupled\\); adam takes none: use name: adamw",
        ),
        (
            lambda d: d["optimizer"].update(schedule="warmup_cosine", warmup_steps=5),
            "warmup_cosine needs decay_steps .* above warmup_steps \\(5\\); got 0",
        ),
        (
            lambda d: d["optimizer"].update(decay_steps=10),
            "warmup_steps and decay_steps need schedule: warmup_cosine",
        ),
        (lambda d: d["optimizer"].update(schedule="step"), "schedule: Input should be 'constant'"),
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
    with pytest.raises(
        SpecError, match="neither built in \\(mlp, cnn, transformer, gpt, lstm, recsys\\) nor"
    ):
        load_workload("no-such-workload.yaml")


def test_canonical_weights_are_seeded_and_shaped_by_the_spec() -> None:
    workload = load_workload("cnn")
    first, second = canonical_weights(workload), canonical_weights(workload)
    assert {k: v.shape for k, v in first.items()} == parameter_shapes(workload)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = canonical_weights(dataclasses.replace(workload, seed=1))
    assert not np.array_equal(first["stem.kernel"], other["stem.kernel"])


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("mlp", "small"),
        ("cnn", "small"),
        ("transformer", "tiny"),
        ("gpt", "tiny"),
        ("lstm", "tiny"),
        ("recsys", "tiny"),
        (str(SPECS / "kitchen.yaml"), "small"),
        (str(SPECS / "joins.yaml"), "small"),
        (str(SPECS / "sequence.yaml"), "small"),
    ],
)
def test_reference_gradients_match_finite_differences(name: str, size: str) -> None:
    workload = dataclasses.replace(load_workload(name, size), batch_size=3)
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


def test_token_batches_are_padded_after_a_real_first_token() -> None:
    workload = load_workload("transformer", "tiny")
    x, y = synthetic_batch(workload)
    assert x.dtype == np.int32 and x.shape == (4, 8) and (x < 64).all()
    assert (x[:, 0] > 0).all() and (x == 0).any()  # padding exists, never first
    padded = x == 0
    assert (np.diff(padded.astype(int), axis=1) >= 0).all()  # padding only at the end


def test_attention_masks_hide_padded_keys_and_the_future() -> None:
    from dlarena.spec.model import Layer

    rng = np.random.default_rng(0)
    width, seq = 8, 5
    params = {f"att.{p}_kernel": rng.normal(0, 0.4, (width, width)) for p in "qkvo"}
    params.update({f"att.{p}_bias": rng.normal(0, 0.1, width) for p in "qkvo"})
    x = rng.normal(0, 1, (2, seq, width))
    ids = np.array([[5, 3, 2, 0, 0], [7, 1, 4, 9, 6]])

    def attend(mask: str, x: np.ndarray) -> np.ndarray:
        attrs = (("bias", True), ("heads", 2), ("mask", mask))
        layer = Layer("att", "attention", ("h", "input"), attrs)
        return OPS["attention"].forward(layer, params, [x, ids], False)[0]

    moved = x.copy()
    moved[0, 3:] += 5.0  # the padded positions of the first row
    moved[1, 4] += 5.0  # the last position of the second row (a real token)
    padding, causal, none = (attend(m, x) for m in ("padding", "causal", "none"))
    assert np.allclose(attend("padding", moved)[0, :3], padding[0, :3])  # padded keys are hidden
    assert not np.allclose(attend("padding", moved)[1], padding[1])  # real ones are not
    assert np.allclose(attend("causal", moved)[1, :4], causal[1, :4])  # the future is hidden
    assert not np.allclose(attend("none", moved)[0, :3], none[0, :3])


def test_transformer_presets_reach_bert_base() -> None:
    counts = {
        size: sum(
            math.prod(s) for s in parameter_shapes(load_workload("transformer", size)).values()
        )
        for size in SIZES
    }
    # Hugging Face BertModel(bert-base-uncased config) has 109,482,240 parameters; this encoder
    # keeps 128 of its 512 positions (-384 x 768), no segment embeddings (-2 x 768), and adds
    # the two-class head (768 x 2 + 2).
    assert counts["full"] == 109_482_240 - 384 * 768 - 2 * 768 + 768 * 2 + 2
    assert counts["tiny"] < 5_000 < counts["small"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"heads": 3}, "3 heads do not divide 16 features"),
        ({"mask": "padding", "inputs": ["embed_drop", "embed_drop"]}, r"inputs \[x, input\]"),
    ],
)
def test_attention_problems_are_named(change: dict, message: str) -> None:
    data = load_workload("transformer", "tiny").to_dict()
    next(layer for layer in data["layers"] if layer["op"] == "attention").update(change)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data)


def test_token_inputs_are_read_by_embeddings_only() -> None:
    data = load_workload("transformer", "tiny").to_dict()
    data["layers"][1]["inputs"] = ["input"]
    with pytest.raises(SpecError, match="the input is token ids; only an embedding"):
        spec_from_dict(data)
    del data["vocab_size"]
    with pytest.raises(SpecError, match="give the spec a vocab_size"):
        spec_from_dict(data)


def test_sequence_layer_flops_match_hand_counts() -> None:
    from dlarena.spec.flops import forward_flops

    workload = load_workload("transformer", "tiny")  # sequence 8, width 16, 2 heads
    counted = forward_flops(workload)
    assert counted["embed"] == 8 * 16  # the position add; the lookup is free
    assert counted["embed_norm"] == 5 * 8 * 16
    projections = 4 * 8 * (2 * 16 * 16 + 16)
    assert counted["b1_attn"] == projections + 2 * (2 * 8 * 8 * 16) + 3 * 2 * 8 * 8
    assert counted["b1_ffn1"] == 8 * 64 * (2 * 16 + 1)  # dense over every position
    assert counted["cls"] == 0


def test_gpt_presets_reach_gpt2_small_with_the_tied_head() -> None:
    full = load_workload("gpt", "full")
    assert sum(math.prod(s) for s in parameter_shapes(full).values()) == 124_439_808
    assert "logits.kernel" not in parameter_shapes(full)  # the head is the embedding's table
    tiny = load_workload("gpt", "tiny")
    x, y = synthetic_batch(tiny)
    assert x.shape == y.shape == (4, 8) and (x[:, 1:] == y[:, :-1]).all()  # next tokens


def test_a_tied_head_names_an_earlier_embedding_of_the_same_width() -> None:
    data = load_workload("gpt", "tiny").to_dict()
    data["layers"][-1]["embedding"] = "ln_f"
    with pytest.raises(SpecError, match="'ln_f' is not an earlier embedding layer"):
        spec_from_dict(data)
    data = load_workload("gpt", "tiny").to_dict()
    data["num_classes"] = 10
    with pytest.raises(SpecError, match="num_classes must equal vocab_size"):
        spec_from_dict(data)


def test_recsys_reads_skewed_ids_into_bags_and_interacts_every_pair() -> None:
    from dlarena.spec.flops import forward_flops
    from dlarena.spec.shapes import infer_shapes

    workload = load_workload("recsys", "tiny")  # 4 dense, bags of 2, 3 and 1 ids
    x, _ = synthetic_batch(dataclasses.replace(workload, batch_size=4000))
    ids = x[:, 4:10]
    assert (ids == np.round(ids)).all() and ids.min() >= 0 and ids[:, :2].max() < 50
    assert (ids[:, :2] < 5).mean() > 0.3  # skewed: a tenth of the ids take a third of the draws
    layers = {layer.name: layer for layer in workload.layers}
    assert layers["interact"].inputs == ("bottom2_relu", "table1", "table2", "table3")
    assert infer_shapes(workload)["interact"] == (4 + 6,)  # the bottom vector, 4 x 3 / 2 dots
    assert forward_flops(workload)["interact"] == 6 * 2 * 4
    assert forward_flops(workload)["table2"] == 2 * 4  # a bag of 3 rows: two sums of width 4
    small = sum(math.prod(s) for s in parameter_shapes(load_workload("recsys")).values())
    assert 26 * 100_000 * 16 < small < 26 * 100_000 * 16 + 1_000_000
