"""One fidelity comparison, run in a framework's environment (a FidelityTask on stdin, one
FidelityResult line out, fidelity/records.py): the reference implementation and dlarena's
spec-built model of the same architecture, their trainable parameter counts, and their
training step times under one identical loop (same optimizer, loss and batches), alternated in
rounds so drift spreads over both.

References: keras.applications.ResNet50 (weights=None) against `cnn` through the Keras adapter,
and Hugging Face `transformers` BertForSequenceClassification and GPT2LMHeadModel (random
initialization) against `transformer` and `gpt` through the PyTorch adapter.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dlarena.codec import decode, encode
from dlarena.ending import leave
from dlarena.fidelity.records import FidelityResult, FidelityTask
from dlarena.spec.model import Workload
from dlarena.spec.weights import canonical_weights, synthetic_batch

Step = Callable[[], Any]


def _alternate(steps: dict[str, Step], rounds: int, per_round: int) -> dict[str, float]:
    """Median seconds per step of each, timed in alternating rounds after two warm-up steps."""
    for step in steps.values():
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(rounds):
        order = list(steps) if index % 2 == 0 else list(reversed(steps))
        for name in order:
            start = time.perf_counter()
            for _ in range(per_round):
                steps[name]()
            times[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def _compared(
    reference: int,
    dlarena: int,
    version: str,
    steps: Callable[[], dict[str, Step]],
    task: FidelityTask,
) -> FidelityResult:
    """Both parameter counts, and (unless the task only counts) both models' step times."""
    found = FidelityResult("ok", reference, dlarena, version)
    if task.count_only:
        return found
    seconds = _alternate(steps(), task.rounds, task.steps)
    return dataclasses.replace(
        found, reference_step_s=seconds["reference"], dlarena_step_s=seconds["dlarena"]
    )


# ---- TensorFlow / Keras ----


def _keras_step(model: Any, x: Any, y: Any) -> Step:
    from dlarena.frameworks.tensorflow.backend import keras, tf

    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    variables = model.trainable_variables

    def step() -> Any:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        optimizer.apply(tape.gradient(loss, variables), variables)
        return float(loss)

    return step


def keras_resnet50(workload: Workload, task: FidelityTask) -> FidelityResult:
    from dlarena.frameworks.tensorflow.adapter import TensorflowAdapter
    from dlarena.frameworks.tensorflow.backend import keras, tf

    setup = TensorflowAdapter.configure(task.threads, 1, "cpu")
    ours = TensorflowAdapter(workload, canonical_weights(workload), "eager", "train", setup)
    theirs = keras.applications.ResNet50(
        weights=None,
        input_shape=workload.input_shape,
        classes=workload.num_classes,
        classifier_activation=None,  # logits, as dlarena's model gives
    )

    def steps() -> dict[str, Step]:
        x, y = (tf.constant(a) for a in synthetic_batch(workload))
        return {"reference": _keras_step(theirs, x, y), "dlarena": _keras_step(ours.model, x, y)}

    version = f"keras {keras.__version__}, tensorflow {tf.__version__}"
    return _compared(_keras_count(theirs), _keras_count(ours.model), version, steps, task)


def _keras_count(model: Any) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


# ---- PyTorch / Hugging Face transformers ----


def _torch_step(forward: Callable[[Any], Any], parameters: Any, x: Any, y: Any) -> Step:
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.SGD(list(parameters), lr=0.01, momentum=0.9)

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        logits = forward(x)
        loss = F.cross_entropy(logits.flatten(0, -2), y.flatten())
        loss.backward()
        optimizer.step()
        return loss

    return step


def hf_model(workload: Workload, task: FidelityTask) -> FidelityResult:
    import torch
    import transformers

    from dlarena.frameworks.torch.adapter import TorchAdapter

    setup = TorchAdapter.configure(task.threads, 1, "cpu")
    ours = TorchAdapter(workload, canonical_weights(workload), "eager", "train", setup)
    theirs = _hf_build(task.reference, workload, transformers).train()

    def steps() -> dict[str, Step]:
        x, y = (torch.from_numpy(a.astype(np.int64)) for a in synthetic_batch(workload))
        mask = (x != 0).long()  # BERT's padding mask; GPT-2's causal mask is its own

        def forward(ids: Any) -> Any:
            extra = {"attention_mask": mask} if task.reference == "hf-bert" else {}
            return theirs(input_ids=ids, **extra).logits

        return {
            "reference": _torch_step(forward, theirs.parameters(), x, y),
            "dlarena": _torch_step(ours.model, ours.model.parameters(), x, y),
        }

    version = f"transformers {transformers.__version__}, torch {torch.__version__}"
    return _compared(_torch_count(theirs), _torch_count(ours.model), version, steps, task)


def _hf_build(reference: str, workload: Workload, transformers: Any) -> Any:
    """The Hugging Face model of the workload's shape, randomly initialized, attention computed by
    torch's scaled_dot_product_attention (as dlarena's adapter), with dropout where the spec has
    it: after the embeddings, attention and feed-forward (none on attention probabilities, none
    before BERT's classifier)."""
    layers = workload.layers
    width = layers[0].attr("units")
    heads = next(layer.attr("heads") for layer in layers if layer.op == "attention")
    depth = sum(layer.op == "attention" for layer in layers)
    rate = next((layer.attr("rate") for layer in layers if layer.op == "dropout"), 0.0)
    common = {"attn_implementation": "sdpa"}
    if reference == "hf-bert":
        config = transformers.BertConfig(
            vocab_size=workload.vocab_size,
            hidden_size=width,
            num_hidden_layers=depth,
            num_attention_heads=heads,
            intermediate_size=4 * width,
            max_position_embeddings=workload.input_shape[0],
            type_vocab_size=1,
            num_labels=workload.num_classes,
            hidden_dropout_prob=rate,
            attention_probs_dropout_prob=0.0,
            classifier_dropout=0.0,
            hidden_act="gelu",
            **common,
        )
        return transformers.BertForSequenceClassification(config)
    config = transformers.GPT2Config(
        vocab_size=workload.vocab_size,
        n_positions=workload.input_shape[0],
        n_embd=width,
        n_layer=depth,
        n_head=heads,
        resid_pdrop=rate,
        embd_pdrop=rate,
        attn_pdrop=0.0,
        **common,
    )
    return transformers.GPT2LMHeadModel(config)


def _torch_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


PROBES = {"keras-resnet50": keras_resnet50, "hf-bert": hf_model, "hf-gpt2": hf_model}


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # framework chatter stays off the result line
    task = decode(FidelityTask, json.loads(sys.stdin.read()))
    workload = Workload.from_dict(task.workload)
    try:
        result = PROBES[task.reference](workload, task)
    except ImportError as exc:
        result = FidelityResult("not installed", error=str(exc))
    out.write(json.dumps(encode(result)) + "\n")
    leave(out)


if __name__ == "__main__":
    main()
