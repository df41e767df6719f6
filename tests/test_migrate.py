"""dlarena migrate scan: a codebase written here, read with Python's parser and never run."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from dlarena.migrate import estimate
from dlarena.migrate.scan import scan
from dlarena.runner import envs
from dlarena.store import Store

from .test_cli import dlarena

TRAIN_TORCH = """
import torch
import torch.nn as nn
from torch import optim
from torch.utils.data import DataLoader
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.cpp_extension import load

open(__file__ + ".ran", "w").write("the scanner ran this file")  # it must not

kernel = load(name="fused", sources=["fused.cu"])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.embed = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 10)


def train(data):
    model = DDP(Net())
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    for x, y in DataLoader(data, batch_size=32):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    torch.onnx.export(model, x, "net.onnx")
"""

KERAS = """
import tensorflow as tf
from tensorflow import keras

model = tf.keras.Sequential([keras.layers.Conv2D(8, 3), keras.layers.Flatten(),
                             tf.keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
model.fit(tf.data.Dataset.from_tensor_slices(([1.0], [0])).batch(8), epochs=1)
"""

GLUON_SERVING = """
import mxnet as mx
from mxnet.gluon import nn


class Scorer(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.out = nn.Dense(1)


net = Scorer()
net.hybridize()
print(net(mx.nd.array([[1.0, 2.0]])))
"""

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "source": ["# not code: import torch"]},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import flax.linen as nn\n",
                                         "import optax\n", "class MLP(nn.Module):\n",
                                         "    pass\n", "tx = optax.adam(1e-3)\n"]},
        {"cell_type": "code", "source": "!pip install jax\nimport jax\ng = jax.grad(lambda w: w)"},
    ],
}  # fmt: skip


def store_in(folder: Path) -> tuple[str, str]:
    return "--store", str(folder.parent / "s.sqlite") if folder.name == "team" else str(
        folder / "s.sqlite"
    )


@pytest.fixture
def codebase(tmp_path: Path) -> Path:
    root = tmp_path / "team"
    (root / "models").mkdir(parents=True)
    (root / "models" / "train_torch.py").write_text(TRAIN_TORCH)
    (root / "models" / "keras_model.py").write_text(KERAS)
    (root / "serve.py").write_text(GLUON_SERVING)
    (root / "explore.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "broken.py").write_text("import torch\ndef f(:\n")
    (root / "plain.py").write_text("import os\nprint(os.getcwd())\n")  # no framework: not listed
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "torch_inside.py").write_text("import torch\ntorch.nn.Linear(1, 1)\n")
    (root / "requirements.txt").write_text("torch==2.13.0  # pinned\nnumpy>=1.26\nmxnet~=1.9\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "t"\ndependencies = ["tensorflow-cpu>=2.21,<3"]\n'
    )
    return root


def test_every_framework_is_read_per_file_with_its_models_and_call_sites(codebase: Path) -> None:
    result = dlarena("migrate", "scan", str(codebase), "--format", "json", *store_in(codebase))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert not list(codebase.rglob("*.ran"))  # read, never run
    files = {f["path"]: f for f in found["files"]}
    assert set(files) == {"models/train_torch.py", "models/keras_model.py", "serve.py",
                          "explore.ipynb", "broken.py"}  # fmt: skip
    assert files["broken.py"]["error"].startswith("SyntaxError")
    torch = found["frameworks"]["torch"]
    assert (torch["files"], torch["models"]) == (1, 1)  # the broken file imports nothing read
    assert torch["distributed"] == 1 and torch["custom"] == 1 and torch["data"] == 1
    assert torch["export"] == 1 and torch["training"] >= 4  # AdamW, cross-entropy, two methods
    calls = {c["api"] for c in files["models/train_torch.py"]["calls"]}
    assert {"torch.nn.Conv2d", "torch.optim.AdamW", "torch.onnx.export"} <= calls
    keras = {c["api"] for c in files["models/keras_model.py"]["calls"]}
    assert {"keras.Sequential", "keras.layers.Dense", "keras.layers.Flatten"} <= keras
    assert "tensorflow.data.Dataset.from_tensor_slices" in keras
    assert found["frameworks"]["tensorflow"]["models"] == 1  # the Sequential model
    notebook = files["explore.ipynb"]
    assert notebook["frameworks"] == ["jax"] and notebook["models"][0][:2] == ["MLP", "jax"]
    assert {c["api"] for c in notebook["calls"]} == {"optax.adam", "jax.grad"}
    pins = {(p["package"], p["version"]) for p in found["pins"]}
    assert pins == {("torch", "==2.13.0"), ("mxnet", "~=1.9"), ("tensorflow-cpu", ">=2.21,<3")}


def test_a_move_lists_what_maps_what_needs_care_and_what_has_no_equivalent(codebase) -> None:
    store = store_in(codebase)
    result = dlarena("migrate", "scan", str(codebase), "--to", "jax", "--format", "json", *store)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    apis = {r["api"]: r for r in found["api_moves"]}
    assert apis["torch.nn.Embedding"]["moves"] == "direct"
    assert apis["torch.nn.Embedding"]["in_target"] == "flax.linen.Embed"
    assert (
        apis["torch.nn.Conv2d"]["moves"] == "note"
        and "NHWC" in apis["torch.nn.Conv2d"]["in_target"]
    )
    assert apis["keras.layers.Flatten"]["moves"] == "none"
    assert "reshape" in apis["keras.layers.Flatten"]["in_target"]
    assert apis["<tensorflow object>.fit()"]["moves"] == "none"  # JAX has no fit loop
    assert "jax.grad" not in apis  # already the target's
    ranked = [r["moves"] for r in found["api_moves"]]
    assert ranked == sorted(ranked, key=("none", "unknown", "note", "direct").index)
    # the Gluon model is never trained anywhere: it can move through ONNX instead
    assert found["serving_only"] == [{"file": "serve.py", "model": "Scorer", "framework": "mxnet"}]
    table = dlarena("migrate", "scan", str(codebase), "--to", "jax", *store).stdout
    assert "dlarena import MODEL.onnx" in table and "engineer-weeks" in table
    # the newest scan is the report's "Moving from what you have"
    page = codebase.parent / "report" / "index.html"
    assert dlarena("report", "--store", store[1], "--output", str(page)).returncode == 0
    moving = page.with_suffix(".md").read_text().split("### Moving from what you have")[1]
    assert "5 files that use a framework" in moving and "To jax: **" in moving
    assert "| keras.layers.Flatten | 1 | none | Flax has none" in moving
    assert "id='moving'" in page.read_text() and "Scorer (mxnet)" in page.read_text()


def test_the_estimate_is_computed_from_the_counts_with_every_coefficient_sourced(codebase) -> None:
    scans = scan(codebase)
    found = estimate.estimate(scans, "jax", team=2)
    per_model = [m * 2 * estimate.WEEKS_PER_MONTH for m in estimate.PER_MODEL_MONTHS]
    none = sum(r.calls for r in estimate.api_moves(scans, "jax") if r.moves == "none")
    # two models rewritten (torch's Net, Keras's Sequential), Gluon's through ONNX
    expected = [2 * per_model[i] + none * estimate.NO_EQUIVALENT_DAYS[i] / 5
                + estimate.THROUGH_ONNX_WEEKS[i] for i in (0, 1)]  # fmt: skip
    assert (found.low_weeks, found.high_weeks) == pytest.approx(expected)
    assert "2-6 months for mid-sized teams (10-50 models)" in found.lines[0]
    assert "a team of 2" in found.lines[0] and all("assumption" in line for line in found.lines)


def test_a_missing_path_or_an_unknown_framework_is_a_usage_error(tmp_path: Path) -> None:
    missing = dlarena("migrate", "scan", str(tmp_path / "nowhere"), *store_in(tmp_path))
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    unknown = dlarena("migrate", "scan", str(tmp_path), "--to", "caffe", *store_in(tmp_path))
    assert (
        unknown.returncode == 2 and "unknown framework 'caffe'; choose from torch" in unknown.stderr
    )
    assert not (tmp_path / "s.sqlite").exists()  # a usage error writes nothing
    empty = dlarena("migrate", "scan", str(tmp_path), *store_in(tmp_path))
    assert empty.returncode == 0 and "no framework is imported under" in empty.stdout


def test_advise_reads_the_teams_expertise_from_its_code(codebase: Path, tmp_path: Path) -> None:
    """torch has the most call sites in the codebase: the tree's expertise question is answered
    'pytorch', and the advice says it came from the code."""
    store = tmp_path / "s.sqlite"
    Store(store).close()
    args = ("advise", "--no-interactive", "--store", str(store), "--format", "json")
    result = dlarena(*args, "--codebase", str(codebase))
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    assert "are torch's: team expertise answered 'pytorch' from the code" in advice["codebase"]
    assert any("pytorch -> torch +1" in line for line in advice["rationale"]), advice["rationale"]
    told = json.loads(dlarena(*args, "--codebase", str(codebase), "--team", "tensorflow").stdout)
    assert told["codebase"] is None  # an answer given is not overridden
    missing = dlarena(*args, "--codebase", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "--codebase" in missing.stderr


def test_bad_files_are_named_and_skipped_and_the_scan_stays_inside_its_folder(
    tmp_path: Path,
) -> None:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "layers.py").write_text(
        "from torch import nn\nclass Block(nn.Module):\n    pass\n"
    )
    # a relative import inside the package, and a model deriving from one defined above it
    (root / "pkg" / "net.py").write_text(
        "from . import layers\nfrom torch.nn import Module\nclass A(Module):\n    pass\n"
        "class B(A):\n    pass\n"
    )
    (root / "binary.py").write_bytes(b"import torch\x00\xff\xfe")
    (root / "bad.ipynb").write_text("[1, 2]")
    locked = root / "locked.py"
    locked.write_text("import torch\n")
    locked.chmod(0)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "theirs.py").write_text("import jax\n")
    (root / "link").symlink_to(outside, target_is_directory=True)  # leaves the folder
    (root / "loop").symlink_to(root, target_is_directory=True)  # a loop
    (root / "alias.py").symlink_to(outside / "theirs.py")
    try:
        result = dlarena("migrate", "scan", str(root), "--format", "json", *store_in(tmp_path))
    finally:
        locked.chmod(0o644)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    files = {f["path"]: f for f in found["files"]}
    assert "jax" not in found["frameworks"]  # nothing outside the folder was read
    assert files["binary.py"]["error"] and files["bad.ipynb"]["error"].startswith("ValueError")
    if files.get("locked.py", {}).get("error") is None:  # root reads any file: it parses
        assert files["locked.py"]["frameworks"] == ["torch"]
    else:
        assert files["locked.py"]["error"].startswith("PermissionError")
    assert [m[0] for m in files["pkg/net.py"]["models"]] == ["A", "B"]
    assert found["frameworks"]["torch"]["models"] == 3


def site_packages(env: str) -> Path:
    python = Path(envs.get(env, envs.dlarena_home()).python)
    (found,) = python.parent.parent.glob("lib/python3*/site-packages")
    return found


@pytest.mark.slow  # reads the environments `make test` creates
@pytest.mark.parametrize(
    ("env", "file", "models", "calls", "categories", "some"),
    [
        ("mxnet", "mxnet/gluon/model_zoo/vision/alexnet.py", ["AlexNet"], 18,
         {"model": 16, "utility": 2}, {"mxnet.gluon.nn.Conv2D": 5, "mxnet.gluon.nn.Dense": 3}),
        ("main", "keras/src/applications/vgg16.py", ["keras.models.Functional (line 206)"], 41,
         {"model": 32, "utility": 9}, {"keras.layers.Conv2D": 13, "keras.layers.MaxPooling2D": 5}),
        ("main", "flax/linen/stochastic.py", ["Dropout"], 6, {"model": 1, "utility": 5},
         {"jax.numpy.zeros_like": 2, "jax.random.bernoulli": 1}),
        ("hf", "transformers/models/bert/modeling_bert.py", 14, 58, None,
         {"torch.nn.Linear": 18, "torch.nn.LayerNorm": 4, "torch.nn.Dropout": 8}),
    ],
    ids=["gluon_alexnet", "keras_vgg16", "flax_dropout", "hf_bert"],
)  # fmt: skip
def test_model_code_no_one_here_wrote_is_counted_as_by_hand(
    env: str, file: str, models, calls: int, categories: dict | None, some: dict
) -> None:
    """Each count read off the file by hand (the installed versions are pinned): its models,
    every framework call site, per category, and a few APIs; relative imports resolved from the
    package the file sits in (Gluon's `from ...block import HybridBlock`)."""
    path = site_packages(env) / file
    (found,) = scan(path)
    names = [m[0] for m in found.models]
    assert (names if isinstance(models, list) else len(names)) == models
    assert len(found.calls) == calls
    if categories is not None:
        assert dict(collections.Counter(c.category for c in found.calls)) == categories
    counted = collections.Counter(c.api for c in found.calls)
    assert {api: counted[api] for api in some} == some
