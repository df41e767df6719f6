"""Builds a small Keras CNN (conv, batch norm with non-trivial statistics, max pooling, a
residual add, flatten, dense layers) with random weights and exports it with
`Model.export(format="onnx")`, which runs tf2onnx (run in the export-tf2onnx environment:
`python keras_onnx.py OUTDIR`). tf2onnx keeps Keras's NHWC input and transposes around it, and
folds batch norm into the convolutions for inference. (Keras's GELU comes out as Erfc, which
is not an ONNX op: ONNX Runtime refuses such a file, so this model uses ReLU.)"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np


def main(out: Path) -> None:
    keras.utils.set_random_seed(0)
    images = keras.Input((12, 12, 3), batch_size=4)
    x = keras.layers.Conv2D(8, 3, padding="same")(images)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.MaxPooling2D(2)(x)
    y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
    x = keras.layers.Flatten()(keras.layers.Add()([x, y]))
    logits = keras.layers.Dense(4)(keras.layers.Dense(16, activation="relu")(x))
    model = keras.Model(images, logits)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # statistics and weights a trained model has
        moved = rng.uniform(0.1, 0.5, weight.shape) if "variance" in weight.path else (
            rng.normal(0, 0.1, weight.shape)
        )  # fmt: skip
        weight.assign(weight.numpy() + moved)
    model(np.zeros((4, 12, 12, 3), "float32"))
    model.export(str(out / "keras.onnx"), format="onnx", verbose=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
