"""How a workload's layer graph can be built idiomatically (numpy-free, stdlib only).

A chain (every layer reads the one before it) becomes each framework's sequential container, as
a user would write it, instead of a graph walk in Python on every call; an activation that is
the only reader of a dense layer is fused into it where the framework's dense layer takes one.
"""

from __future__ import annotations

from dlarena.spec.model import ACTIVATIONS, INPUT, Workload


def is_chain(workload: Workload) -> bool:
    """True when each layer's only input is the layer just before it (and none reads another
    layer's weights, as a tied head does)."""
    previous = INPUT
    for layer in workload.layers:
        if layer.inputs != (previous,) or layer.op == "tied_logits":
            return False
        previous = layer.name
    return True


def readers(workload: Workload) -> dict[str, list[str]]:
    """Layer name -> the names of the layers that read it."""
    found: dict[str, list[str]] = {}
    for layer in workload.layers:
        for name in layer.inputs:
            found.setdefault(name, []).append(layer.name)
    return found


def fused_activations(workload: Workload) -> dict[str, str]:
    """Dense layer name -> the activation layer fused into it (its only reader)."""
    by_name = {layer.name: layer for layer in workload.layers}
    fused = {}
    for name, names in readers(workload).items():
        if name in by_name and by_name[name].op == "dense" and len(names) == 1:
            reader = by_name[names[0]]
            if reader.op in ACTIVATIONS:
                fused[name] = reader.name
    return fused
