"""The spec's token and sequence ops as ONNX nodes: embeddings, self-attention and the LSTM."""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper

from dlarena.frameworks.onnxruntime.nodes import Nodes
from dlarena.spec.model import Layer


class SequenceOps(Nodes):
    """Token embeddings (with positions), self-attention from primitive ops, ONNX's LSTM."""

    def embedding(self, layer: Layer, ids: str) -> str:
        n = layer.name
        table = self.const(f"{n}.table", self.weights[f"{n}.table"])
        if not layer.attr("positions"):
            return self.node("Gather", [table, ids], n)
        tokens = self.node("Gather", [table, ids], f"{n}_tokens")
        return self.node(
            "Add", [tokens, self.const(f"{n}.positions", self.weights[f"{n}.positions"])], n
        )

    def _project(self, layer: Layer, x: str, part: str) -> str:
        n = f"{layer.name}.{part}"
        out = self.node(
            "MatMul", [x, self.const(f"{n}_kernel", self.weights[f"{n}_kernel"])], f"{n}_mm"
        )
        if not layer.attr("bias"):
            return out
        return self.node(
            "Add", [out, self.const(f"{n}_bias", self.weights[f"{n}_bias"])], f"{n}_out"
        )

    def attention(self, layer: Layer, ins: list[str]) -> str:
        """Scaled dot-product attention from MatMul, Reshape, Transpose and Softmax; a masked
        score gets -1e9 before the softmax (exp() of it is exactly 0 in float32)."""
        n, x, heads = layer.name, ins[0], layer.attr("heads")
        width = self.weights[f"{n}.q_kernel"].shape[0]
        split = self.const(f"{n}.split", np.array([0, 0, heads, width // heads], np.int64))

        def heads_of(part: str, perm: list[int]) -> str:
            shaped = self.node("Reshape", [self._project(layer, x, part), split], f"{n}_{part}_4d")
            return self.node("Transpose", [shaped], f"{n}_{part}_heads", perm=perm)

        q, k, v = (
            heads_of("q", [0, 2, 1, 3]),
            heads_of("k", [0, 2, 3, 1]),
            heads_of("v", [0, 2, 1, 3]),
        )
        scale = self.const(f"{n}.scale", np.float32(1 / math.sqrt(width // heads)))
        scores = self.node("Mul", [self.node("MatMul", [q, k], f"{n}_qk"), scale], f"{n}_scores")
        if layer.attr("mask") == "padding":
            pad = self.node(
                "Cast",
                [
                    self.node(
                        "Equal", [ins[1], self.const(f"{n}.pad_id", np.int32(0))], f"{n}_is_pad"
                    )
                ],
                f"{n}_pad",
                to=TensorProto.FLOAT,
            )
            bias = self.node(
                "Mul", [pad, self.const(f"{n}.masked", np.float32(-1e9))], f"{n}_pad_bias"
            )
            axes = self.const(f"{n}.mask_axes", np.array([1, 2], np.int64))
            bias = self.node("Unsqueeze", [bias, axes], f"{n}_mask")
            scores = self.node("Add", [scores, bias], f"{n}_masked")
        elif layer.attr("mask") == "causal":
            seq = self.seq
            causal = (1.0 - np.tril(np.ones((seq, seq), np.float32))) * np.float32(-1e9)
            scores = self.node("Add", [scores, self.const(f"{n}.causal", causal)], f"{n}_masked")
        probs = self.node("Softmax", [scores], f"{n}_probs", axis=-1)
        context = self.node(
            "Transpose",
            [self.node("MatMul", [probs, v], f"{n}_ctx")],
            f"{n}_ctx_t",
            perm=[0, 2, 1, 3],
        )
        merge = self.const(f"{n}.merge", np.array([0, 0, width], np.int64))
        return self._project(layer, self.node("Reshape", [context, merge], f"{n}_context"), "o")

    def lstm(self, layer: Layer, x: str) -> str:
        """ONNX's LSTM (time major) with its gate order i, o, f, c: the canonical i, f, g, o
        blocks reordered; its second bias (the recurrent one) zero."""
        n, units = layer.name, layer.attr("units")
        order = np.concatenate([np.arange(k * units, (k + 1) * units) for k in (0, 3, 1, 2)])

        def onnx_weight(kind: str) -> np.ndarray:
            return self.weights[f"{n}.{kind}"].T[order][None]  # (1, 4H, in)

        bias = np.concatenate([self.weights[f"{n}.gate_bias"][order], np.zeros(4 * units)])
        inputs = [
            self.node("Transpose", [x], f"{n}_time_major", perm=[1, 0, 2]),
            self.const(f"{n}.W", onnx_weight("input_kernel")),
            self.const(f"{n}.R", onnx_weight("recurrent_kernel")),
            self.const(f"{n}.B", bias[None].astype(np.float32)),
        ]
        outputs = [f"{n}_Y", f"{n}_Y_h"]
        self.nodes.append(
            helper.make_node("LSTM", inputs, outputs, name=f"{n}_lstm", hidden_size=units)
        )
        if not layer.attr("sequence"):  # Y_h (1, B, H)
            return self.node("Squeeze", [outputs[1], self.const(f"{n}.axis0", np.array([0]))], n)
        batch_major = self.node("Transpose", [outputs[0]], f"{n}_batch_major", perm=[2, 0, 1, 3])
        merge = self.const(f"{n}.merge", np.array([0, 0, units], np.int64))
        return self.node("Reshape", [batch_major, merge], f"{n}_out")
