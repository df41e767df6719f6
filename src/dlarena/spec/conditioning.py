"""Parity data with no decision on a knife's edge (numpy only).

A ReLU whose float64 pre-activation is within float32 rounding of zero, or a max-pool window
whose two largest values are that close, can go either way in a float32 framework. The forward
output hardly notices (both functions are continuous), but the gradient does: one flipped unit
routes a whole sample's gradient differently, about 1/sqrt(rows x units) of the tensor's norm
(1.7e-3 on a 2048-4096-4096-10 MLP at batch 512, against a gradient tolerance of 1e-3).

So the training checks run on a parity batch whose rows are redrawn until every decision along
the float64 training trace clears its layer's margin: MARGIN_SAFETY times the float32 error that
can reach that layer, u * sqrt(fan-in) * depth of the layer's RMS (u = 2^-24; fan-in and depth
of the kernels on the way). That estimate is one standard deviation of a fan-in-K sum's rounding
at depth 1 and grows linearly with depth where random signs grow it as sqrt(depth), so a margin
of 3 of them is at least 3 sqrt(depth) standard deviations: the chance that any decision of
the batch still flips is far below one in a hundred, where an unconditioned batch of the large
MLP has several decisions inside one standard deviation. Ties between values a ReLU clamped to
exactly zero are no decision: their gradient is zero whichever wins. Rows that stay ambiguous
after ATTEMPTS redraws are counted and reported beside the checks. A workload without such
decisions (a transformer's GELUs and softmax, an LSTM's gates) takes its rows as drawn.

Rows are not independent in training: each step's update averages over the batch, so redrawing
one row moves every other row's later passes by far more than a margin, and a batch of rows each
ambiguous with chance p is clean with chance (1 - p)^rows. Only the first pass, at the canonical
weights, is decided row by row (unless batch norm normalizes each row by the batch's
statistics); so there every row drawn is the best of CANDIDATES by its closest decision, which
leaves only the later passes to chance. On the large MLP this takes the trace from about 60
rounds (minutes) to about 15. With batch norm, a row chosen against a pool's statistics is
atypical of the batch it joins (the default cnn's batch then stays ambiguous): rows are drawn
plainly.
"""

from __future__ import annotations

import math

import numpy as np

from dlarena.spec import reference
from dlarena.spec.model import INPUT, Layer, Workload
from dlarena.spec.ops import OPS
from dlarena.spec.shapes import parameter_shapes
from dlarena.spec.weights import draw_batch

U = 2.0**-24
MARGIN_SAFETY = 3.0
PARITY_ROWS = 16  # rows of the parity batch: enough for the math, few enough to condition
ATTEMPTS = 60
CANDIDATES = 8  # rows drawn per row kept
# the ops whose output can flip on rounding (_margins)
DECISIONS = {name for name, op in OPS.items() if op.margin is not None}


def error_reach(workload: Workload) -> dict[str, float]:
    """Layer name -> u * sqrt(fan-in) * depth over the kernels on the way to its output."""
    reach: dict[str, tuple[int, int]] = {INPUT: (0, 1)}
    shapes = parameter_shapes(workload)
    for layer in workload.layers:
        depth = max(reach[name][0] for name in layer.inputs)
        fan_in = max(reach[name][1] for name in layer.inputs)
        kernel = shapes.get(f"{layer.name}.kernel")
        if kernel is not None:
            depth, fan_in = depth + 1, max(fan_in, int(np.prod(kernel[:-1])))
        reach[layer.name] = (depth, fan_in)
    return {name: U * math.sqrt(fan_in) * max(depth, 1) for name, (depth, fan_in) in reach.items()}


def _margins(layer: Layer, ins: list[np.ndarray], error: float) -> np.ndarray | None:
    """Per row, the closest decision of this layer to its boundary, in units of the margin it
    needs (below 1: float32 may decide it the other way)."""
    rule = OPS[layer.op].margin
    if rule is None:
        return None
    x = ins[0]
    needed = MARGIN_SAFETY * error * max(float(np.sqrt(np.mean(x**2))), 1e-30)
    return rule(layer, x) / needed


def row_margins(workload: Workload, weights: dict, x: np.ndarray, y: np.ndarray, steps: int):
    """Per row: the smallest decision margin in the forward passes of `steps` training steps,
    the passes the training checks depend on (with 0 steps: the first pass alone, which needs
    no backward). The inference pass is not conditioned: its check runs on the full batch, where
    a flipped decision moves the output by no more than the rounding."""
    margins = np.full(len(x), np.inf)
    reach = error_reach(workload)

    def observe(layer: Layer, ins: list[np.ndarray]) -> None:
        found = _margins(layer, ins, max(reach[name] for name in layer.inputs))
        if found is not None:
            np.minimum(margins, found, out=margins)

    params = {k: v.astype(np.float64) for k, v in weights.items()}
    if steps > 1:  # the last step's backward and update move nothing the checks see
        params |= reference.train_trace(workload, weights, x, y, steps - 1, observe)["params"]
    reference.forward(workload, params, x, training=True, observe=observe)
    return margins


def parity_batch(
    workload: Workload, weights: dict, steps: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(x, y, rows still ambiguous): a batch whose decisions all clear MARGIN, if it can."""
    rows = min(PARITY_ROWS, workload.batch_size)
    rng = np.random.default_rng([workload.seed, 2])

    # choose among candidates where there are decisions and each row's first pass is its own
    # (batch norm normalizes each row by the batch's statistics)
    ops = {layer.op for layer in workload.layers}
    if not ops & DECISIONS:  # nothing to flip (a transformer): the rows as drawn
        x, y = draw_batch(workload, rng, rows)
        return x, y, 0
    candidates = CANDIDATES if "batch_norm" not in ops else 1

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        """The n of n * candidates rows whose decisions at the canonical weights sit farthest
        from their boundaries."""
        x, y = draw_batch(workload, rng, n * candidates)
        if candidates == 1:
            return x, y
        best = np.argsort(-row_margins(workload, weights, x, y, 0), kind="stable")[:n]
        return x[best], y[best]

    x, y = draw(rows)
    for _ in range(ATTEMPTS):
        bad = row_margins(workload, weights, x, y, steps) < 1.0
        if not bad.any():
            return x, y, 0
        x[bad], y[bad] = draw(int(bad.sum()))
    return x, y, int((row_margins(workload, weights, x, y, steps) < 1.0).sum())
