"""dlarena import: ONNX models as specs with their own weights, proved against the original."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from dlarena import importer
from dlarena.measure.parity import as_output
from dlarena.runner import envs
from dlarena.runner.process import untimed_cache
from dlarena.spec import reference
from dlarena.spec.loader import load_workload

from .test_cli import DLARENA, dlarena

FIVE = ("torch", "tensorflow", "jax", "mxnet", "onnxruntime")
MODELS = Path(__file__).parent / "models"


def _save(
    path: Path, nodes: list, weights: dict, shape: list, out: list, ids: bool = False
) -> Path:
    rng = np.random.default_rng(len(nodes))
    inits = [
        numpy_helper.from_array(
            value if isinstance(value, np.ndarray) else rng.normal(0, 0.5, value).astype("f4"), k
        )
        for k, value in weights.items()
    ]
    kind = TensorProto.INT64 if ids else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", kind, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def _image_model(path: Path) -> Path:
    """Conv with SAME padding, max pool, a reshape whose shape is computed from Shape, MatMul +
    Add, GELU spelled with Erf in another order than the exporters', a dense head."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c"], auto_pad="SAME_UPPER", kernel_shape=[3, 3]),
        n("Relu", ["c"], ["r"]),
        n("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Shape", ["p"], ["s"]),
        n("Gather", ["s", "zero"], ["n"], axis=0),
        n("Unsqueeze", ["n", "zero1"], ["n1"]),
        n("Concat", ["n1", "minus1"], ["target"], axis=0),
        n("Reshape", ["p", "target"], ["flat"]),
        n("MatMul", ["flat", "w2"], ["m"]),
        n("Add", ["m", "b2"], ["h"]),
        n("Mul", ["h", "half"], ["hh"]),
        n("Mul", ["h", "inv_sqrt2"], ["hs"]),
        n("Erf", ["hs"], ["e"]),
        n("Add", ["one", "e"], ["e1"]),
        n("Mul", ["hh", "e1"], ["g"]),
        n("Gemm", ["g", "w3", "b3"], ["y"], transB=1, alpha=0.5, beta=2.0),
    ]
    weights = {
        "w1": (4, 3, 3, 3), "b1": (4,), "w2": (36, 8), "b2": (8,), "w3": (3, 8), "b3": (3,),
        "zero": np.array(0, np.int64), "zero1": np.array([0], np.int64),
        "minus1": np.array([-1], np.int64), "half": np.array(0.5, np.float32),
        "inv_sqrt2": np.array(1 / np.sqrt(2), np.float32), "one": np.array(1.0, np.float32),
    }  # fmt: skip
    return _save(path, nodes, weights, ["N", 3, 6, 6], ["N", 3])


def _pooled_model(path: Path) -> Path:
    """Conv, batch norm with its statistics, tanh, sigmoid, a mean over height and width,
    flatten, Gemm."""
    n = helper.make_node
    stats = {"scale": np.linspace(0.5, 1.5, 4, dtype="f4"), "shift": (4,),
             "mean": np.linspace(-0.3, 0.3, 4, dtype="f4"), "var": np.linspace(0.5, 2, 4, dtype="f4")}  # fmt: skip  # noqa: E501
    nodes = [
        n("Conv", ["x", "w1"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["b"], epsilon=1e-3),
        n("Tanh", ["b"], ["t"]),
        n("Sigmoid", ["t"], ["s"]),
        n("ReduceMean", ["s"], ["m"], axes=[2, 3], keepdims=1),
        n("Flatten", ["m"], ["f"]),
        n("Gemm", ["f", "w2", "b2"], ["y"], transB=1),
    ]
    return _save(path, nodes, {"w1": (4, 2, 3, 3), **stats, "w2": (5, 4), "b2": (5,)},
                 [2, 2, 8, 8], [2, 5])  # fmt: skip


def _token_model(path: Path) -> Path:
    """A token embedding with positions, layer norm and GELU's tanh approximation written out
    (as exporters before opset 17 and 20 do), the first token, a dense head."""
    n = helper.make_node
    nodes = [
        n("Gather", ["table", "x"], ["e"], axis=0),
        n("Add", ["e", "positions"], ["p"]),
        n("ReduceMean", ["p"], ["mean"], axes=[-1]),
        n("Sub", ["p", "mean"], ["d"]),
        n("Pow", ["d", "two"], ["d2"]),
        n("ReduceMean", ["d2"], ["var"], axes=[-1]),
        n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["std"]),
        n("Div", ["d", "std"], ["normal"]),
        n("Mul", ["normal", "gamma"], ["scaled"]),
        n("Add", ["scaled", "beta"], ["ln"]),
        n("Pow", ["ln", "three"], ["cube"]),  # GELU's tanh approximation, written out
        n("Mul", ["cube", "c"], ["cc"]),
        n("Add", ["ln", "cc"], ["inner"]),
        n("Mul", ["inner", "k"], ["scaled_inner"]),
        n("Tanh", ["scaled_inner"], ["t"]),
        n("Add", ["t", "one"], ["t1"]),
        n("Mul", ["ln", "half"], ["xh"]),
        n("Mul", ["xh", "t1"], ["g"]),
        n("Gather", ["g", "zero"], ["first"], axis=1),
        n("Gemm", ["first", "w", "b"], ["y"], transB=1),
    ]
    weights = {
        "table": (10, 8), "positions": (1, 5, 8), "gamma": (8,), "beta": (8,), "w": (3, 8),
        "b": (3,), "two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32),
        "zero": np.array(0, np.int64), "three": np.array(3.0, np.float32),
        "c": np.array(0.044715, np.float32), "k": np.array(np.sqrt(2 / np.pi), np.float32),
        "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32),
    }  # fmt: skip
    return _save(path, nodes, weights, [2, 5], [2, 3], ids=True)


def _branched_model(path: Path) -> Path:
    """Two convolutions of one image joined along their channels, pooled, then two dense
    branches joined along their features (Concat, negative axis)."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "wa"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("Conv", ["x", "wb", "bb"], ["b"], kernel_shape=[1, 1]),
        n("Concat", ["a", "b"], ["ab"], axis=1),
        n("Relu", ["ab"], ["r"]),
        n("GlobalAveragePool", ["r"], ["g"]),
        n("Flatten", ["g"], ["f"]),
        n("Gemm", ["f", "w1", "b1"], ["h1"], transB=1),
        n("Gemm", ["f", "w2", "b2"], ["h2"], transB=1),
        n("Concat", ["h1", "h2"], ["h"], axis=-1),
        n("Tanh", ["h"], ["t"]),
        n("Gemm", ["t", "w3", "b3"], ["y"], transB=1),
    ]
    weights = {
        "wa": (4, 3, 3, 3), "wb": (2, 3, 1, 1), "bb": (2,), "w1": (5, 6), "b1": (5,),
        "w2": (3, 6), "b2": (3,), "w3": (4, 8), "b3": (4,),
    }  # fmt: skip
    return _save(path, nodes, weights, ["N", 3, 6, 6], ["N", 4])


def _classifier(path: Path, last: str = "Softmax", axis: int = 1) -> Path:
    """A dense classifier that outputs the Softmax (or LogSoftmax) of its logits."""
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
        n("Relu", ["h"], ["r"]),
        n("Gemm", ["r", "w2", "b2"], ["logits"], transB=1),
        n(last, ["logits"], ["y"], axis=axis),
    ]
    weights = {"w1": (8, 5), "b1": (8,), "w2": (3, 8), "b2": (3,)}
    return _save(path, nodes, weights, ["N", 5], ["N", 3])


def _depthwise_model(path: Path) -> Path:
    """MobileNet's separable convolution: depthwise (a channel multiplier of 2, stride 2), then
    a grouped pointwise one."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "wd", "bd"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=3,
          strides=[2, 2]),
        n("Relu", ["d"], ["r"]),
        n("Conv", ["r", "wp"], ["p"], kernel_shape=[1, 1], group=2),
        n("GlobalAveragePool", ["p"], ["g"]),
        n("Flatten", ["g"], ["f"]),
        n("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]  # fmt: skip
    weights = {"wd": (6, 1, 3, 3), "bd": (6,), "wp": (4, 3, 1, 1), "w": (3, 4), "b": (3,)}
    return _save(path, nodes, weights, ["N", 3, 8, 8], ["N", 3])


def _relu6_model(path: Path) -> Path:
    """ReLU6 as exporters write it: Clip with constant bounds, on values well past 6."""
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "w1", "b1"], ["h"], transB=1, alpha=8.0),
        n("Clip", ["h", "low", "high"], ["c"]),
        n("Gemm", ["c", "w2", "b2"], ["y"], transB=1),
    ]
    low, high = np.array(0, "f4"), np.array(6, "f4")
    weights = {"w1": (8, 5), "b1": (8,), "low": low, "high": high, "w2": (3, 8), "b2": (3,)}
    return _save(path, nodes, weights, ["N", 5], ["N", 3])


def _scaled_residual_model(path: Path) -> Path:
    """A residual branch scaled by a constant before its add (Mul), then halved (Div)."""
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
        n("Tanh", ["h"], ["t"]),
        n("Mul", ["t", "k"], ["s"]),
        n("Add", ["h", "s"], ["r"]),
        n("Div", ["r", "two"], ["d"]),
        n("Gemm", ["d", "w2", "b2"], ["y"], transB=1),
    ]
    k, two = np.array(0.3, "f4"), np.array(2.0, "f4")
    weights = {"w1": (8, 5), "b1": (8,), "k": k, "two": two, "w2": (3, 8), "b2": (3,)}
    return _save(path, nodes, weights, ["N", 5], ["N", 3])


def _log_classifier(path: Path) -> Path:
    return _classifier(path, "LogSoftmax", -1)


@pytest.mark.parametrize(
    ("build", "fused"),
    [(_image_model, {"gelu"}), (_pooled_model, {"batch_norm", "tanh", "sigmoid"}),
     (_token_model, {"layer_norm", "gelu_tanh"}), (_branched_model, {"concat"}),
     (_classifier, {"relu"}), (_log_classifier, {"relu"}), (_depthwise_model, {"conv2d"}),
     (_relu6_model, {"relu6"}), (_scaled_residual_model, {"scale", "add"})],
)  # fmt: skip
def test_an_imported_graph_computes_what_onnx_reference_evaluator_computes(
    tmp_path: Path, build, fused: set[str]
) -> None:
    source = build(tmp_path / "model.onnx")
    graph = importer.load(source, 6)
    imported = importer.map_model(source, graph, "m", 6, {"name": "sgd"})
    workload = load_workload(str(importer.write(imported, tmp_path / "out")))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(graph.batch, *workload.input_shape)).astype("f4")
    if workload.tokens:
        x = rng.integers(1, workload.vocab_size, (graph.batch, *workload.input_shape))
    ours, _ = reference.forward(
        workload, {k: v.astype("f8") for k, v in imported.weights.items()}, x, training=False
    )
    nchw = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
    original = ReferenceEvaluator(str(source)).run(None, {"x": nchw})[0]
    assert original.shape == ours.shape
    ours = as_output(ours, workload.source.output)  # a Softmax at the output, taken off
    np.testing.assert_allclose(ours, original, rtol=1e-4, atol=1e-5)
    assert workload.source.output == {
        "_classifier": "softmax",
        "_log_classifier": "log_softmax",
    }.get(build.__name__, "logits")
    ops = [layer.op for layer in workload.layers]
    assert fused <= set(ops), ops  # the patterns fused, a real tanh kept
    if build is _depthwise_model:
        assert [la.attr("groups") for la in workload.layers if la.op == "conv2d"] == [3, 2]


def test_an_unmapped_op_is_listed_with_its_nodes_and_nothing_is_written(tmp_path: Path) -> None:
    n = helper.make_node
    nodes = [
        n("Gemm", ["x", "w"], ["h"], name="fc"),
        n("Softplus", ["h"], ["s1"], name="gate_a"),
        n("Softplus", ["s1"], ["s2"], name="gate_b"),
        n("LeakyRelu", ["s2"], ["y"], name="leaky"),
    ]
    source = _save(tmp_path / "odd.onnx", nodes, {"w": (4, 3)}, [2, 4], [2, 3])
    for args in (("--check",), ("--out", str(tmp_path / "out"))):
        result = dlarena("import", str(source), *args)
        assert result.returncode == 2, result.stderr
        assert "Softplus x2 (nodes: gate_a, gate_b)" in result.stderr
        assert "LeakyRelu x1 (nodes: leaky); nearest in the spec: Relu" in result.stderr
        assert "Traceback" not in result.stderr
    assert "Gemm" in dlarena("import", str(source), "--check").stdout  # the coverage table
    assert not (tmp_path / "out").exists()


def test_a_softmax_anywhere_but_over_the_output_classes_is_listed_as_unmapped(
    tmp_path: Path,
) -> None:
    source = _classifier(tmp_path / "batch_axis.onnx", axis=0)  # over the batch: not a classifier
    rows = {row.op: row for row in importer.coverage(importer.load(source, 4))}
    assert not rows["Softmax"].mapped and "at the output only" in rows["Softmax"].nearest


def test_broken_files_are_one_line_errors(tmp_path: Path) -> None:
    good = _pooled_model(tmp_path / "good.onnx")
    (tmp_path / "truncated.onnx").write_bytes(good.read_bytes()[:300])
    onnx.save_model(
        onnx.load(good), tmp_path / "external.onnx", save_as_external_data=True,
        location="external.data", size_threshold=0,
    )  # fmt: skip
    (tmp_path / "external.data").unlink()
    dynamic = onnx.load(good)
    dynamic.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(dynamic, tmp_path / "dynamic.onnx")
    expected = {
        "truncated.onnx": "malformed or truncated",
        "external.onnx": "external-data files beside the model",
        "dynamic.onnx": "dynamic dimension 'height'",
        "missing.onnx": "does not exist",
    }
    for name, words in expected.items():
        result = dlarena("import", str(tmp_path / name), "--check")
        assert result.returncode == 2, (name, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_shape_pins_the_sizes_a_file_leaves_dynamic(tmp_path: Path) -> None:
    dynamic = onnx.load(_pooled_model(tmp_path / "good.onnx"))  # (2, 2, 8, 8): NCHW
    for dim in dynamic.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_param = "side"
    onnx.save(dynamic, tmp_path / "dynamic.onnx")
    graph = importer.load(tmp_path / "dynamic.onnx", None, (2, 10, 10))
    assert graph.input_shape == (2, 2, 10, 10) and graph.shapes["c"] == (2, 4, 5, 5)
    spec = importer.write(
        importer.map_model(tmp_path / "dynamic.onnx", graph, "m", None, {"name": "sgd"}), tmp_path
    )
    assert load_workload(str(spec)).input_shape == (10, 10, 2)  # NHWC, as every spec
    refusals = {
        "2x10": "--shape gives 2 (2x10) dimensions after the batch; input 'x' has 3",
        "3x10x10": "fixes dimension 1 to 2; --shape says 3",
        "2xtenx10": "give the sizes after the batch as positive integers",
    }
    for shape, words in refusals.items():
        result = dlarena("import", str(tmp_path / "dynamic.onnx"), "--check", "--shape", shape)
        assert result.returncode == 2 and words in result.stderr, (shape, result.stderr)
    good = dlarena("import", str(tmp_path / "dynamic.onnx"), "--check", "--shape", "2,10,10")
    assert good.returncode == 0, good.stderr


def test_weights_that_do_not_match_the_spec_are_refused(tmp_path: Path) -> None:
    source = _pooled_model(tmp_path / "model.onnx")
    graph = importer.load(source, None)
    spec = importer.write(importer.map_model(source, graph, "m", None, {"name": "sgd"}), tmp_path)
    assert dlarena("spec", "validate", str(spec)).returncode == 0
    weights = tmp_path / "m.npz"
    np.savez(weights, **{k: v + 1 for k, v in np.load(weights).items()})
    result = dlarena("spec", "validate", str(spec))
    assert result.returncode == 2 and "does not match the sha256" in result.stderr
    weights.unlink()
    result = dlarena("spec", "validate", str(spec))
    assert result.returncode == 2 and "does not exist" in result.stderr


def _export(script: str, python: str, folder: Path) -> None:
    subprocess.run(
        [python, str(MODELS / script), str(folder)], check=True, capture_output=True, timeout=600
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models no one here wrote: PyTorch's (its two ONNX exporters), Hugging Face's BERT, a
    Gluon CNN through mx.onnx and a Keras CNN through tf2onnx (their on-demand environments made
    from pip's cache in a folder of the tests' own, kept across runs and checkouts like the
    user's: a later run finds them up to date (28 CPU-s each time otherwise); the user's
    environments, which the deploy probe tests read meanwhile, stay as they were)."""
    folder = tmp_path_factory.mktemp("exported")
    home = envs.dlarena_home()
    _export("torch_onnx.py", envs.get("main", home).python, folder)
    _export("hf_onnx.py", envs.get("hf", home).python, folder)
    own = Path(untimed_cache()) / "test-export-environments"
    made = subprocess.run(
        [DLARENA, "envs", "create", "export-mxnet-onnx", "export-tf2onnx"], capture_output=True,
        text=True, env={**os.environ, "DLARENA_ENVS": str(own)}, timeout=900,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLARENA_ENVS", str(own))
        _export("gluon_onnx.py", envs.get("export-mxnet-onnx", home).python, folder)
        _export("keras_onnx.py", envs.get("export-tf2onnx", home).python, folder)
    return folder


@pytest.mark.slow
def test_exported_models_import_and_pass_parity_on_all_five_runtimes(exported: Path) -> None:
    specs, names = [], ("mlp", "cnn", "lstm", "bert", "gluon", "keras")
    for name in names:
        model, out = exported / f"{name}.onnx", exported / "specs"
        if name in ("mlp", "cnn", "lstm"):
            refused = dlarena("import", str(model), "--out", str(out))  # a built-in's name
            assert refused.returncode == 2 and "--name" in refused.stderr
        result = dlarena("import", str(model), "--out", str(out), "--name", f"x-{name}")
        assert result.returncode == 0, result.stderr
        assert "computes the same as the original in ONNX Runtime: yes (" in result.stdout
        specs.append(str(out / f"x-{name}.yaml"))
    mlp, cnn, lstm, bert, gluon, keras = (load_workload(spec) for spec in specs)
    assert [layer.op for layer in gluon.layers].count("batch_norm") == 2
    assert keras.input_shape == (12, 12, 3)  # NHWC in the file, as in the spec
    assert "batch_norm" not in [layer.op for layer in keras.layers]  # folded by tf2onnx
    assert mlp.batch_size == 32  # the file's batch axis is dynamic: the default
    # a classifier that outputs probabilities (log-probabilities): the spec ends in the logits
    assert (mlp.source.output, lstm.source.output, cnn.source.output) == (
        "softmax", "log_softmax", "logits"
    )  # fmt: skip
    assert [layer.op for layer in cnn.layers].count("batch_norm") == 2
    assert [la.attr("groups") for la in cnn.layers if la.op == "conv2d"] == [1, 8, 2, 1]
    assert "gelu" in [layer.op for layer in cnn.layers]  # the Erf pattern, fused
    assert "relu6" in [layer.op for layer in cnn.layers]  # Clip to [0, 6]
    assert cnn.batch_size == 8 and cnn.source is not None
    assert cnn.source.file == str(exported / "cnn.onnx")  # found beside, relative to the spec
    assert [(la.op, dict(la.attrs)) for la in lstm.layers[1:2]] == [
        ("lstm", {"units": 24, "sequence": False})  # the last step of the sequence: final state
    ]
    ops = [layer.op for layer in bert.layers]
    assert ops.count("attention") == 2 and ops.count("layer_norm") == 5, ops
    assert [layer.attr("heads") for layer in bert.layers if layer.op == "attention"] == [4, 4]
    assert bert.vocab_size == 64 and bert.input_shape == (12,)
    runtimes = [arg for r in FIVE for arg in ("--runtime", r)]
    # the mapping is what this proves (every tier runs the same weights, layouts and graph;
    # the tiers themselves are proved on the built-in workloads): the eager tier
    result = dlarena("parity", *specs, *runtimes, "--tier", "eager", "--format", "json")
    verdicts = json.loads(result.stdout)["verdicts"]
    failed = [v for v in verdicts if not v["passed"]]
    assert result.returncode == 0 and not failed, failed or result.stderr
    assert {(v["workload"], v["runtime"]) for v in verdicts} == {
        (f"x-{w}", r) for w in names for r in FIVE
    }
    originals = [c for v in verdicts for c in v["checks"] if c["check"] == "original"]
    assert len(originals) == 6 * 5  # each inference cell: six specs, five runtimes


@pytest.mark.slow
def test_the_report_says_whether_an_imported_model_computes_what_the_original_does(
    exported: Path, tmp_path: Path
) -> None:
    out = tmp_path / "specs"
    imported = dlarena("import", str(exported / "cnn.onnx"), "--out", str(out), "--name", "m")
    assert imported.returncode == 0, imported.stderr
    store = str(tmp_path / "s.sqlite")
    result = dlarena(
        "bench", "--quick", "--slow-reruns", "0", "--workload", str(out / "m.yaml"), "--mode",
        "infer", "--tier", "compiled", "--runtime", "mxnet", "--runtime", "onnxruntime",
        "--store", store,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = tmp_path / "report" / "index.html"
    assert dlarena("report", "--store", store, "--output", str(report)).returncode == 0
    text = report.with_suffix(".md").read_text()
    sha = hashlib.sha256((exported / "cnn.onnx").read_bytes()).hexdigest()[:12]
    rows = [line for line in text.splitlines() if f"cnn.onnx (sha256 {sha})" in line]
    assert len(rows) == 2 and all("| compiled | yes |" in row for row in rows), rows
    assert "computes the same as the original" in report.read_text()


def test_check_prints_the_coverage_of_a_model_that_maps_and_writes_nothing(tmp_path: Path) -> None:
    source = _image_model(tmp_path / "model.onnx")
    result = dlarena("import", str(source), "--check", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["op"]: row for row in json.loads(result.stdout)}
    # folded (Shape, Gather, Unsqueeze, Concat) and fused (Erf's GELU, MatMul + Add) away
    assert set(rows) == {"Conv", "Relu", "MaxPool", "Reshape", "Gelu", "Gemm"}, rows
    assert rows["Gemm"]["count"] == 2 and all(row["mapped"] for row in rows.values())
    assert "maps; nothing written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
