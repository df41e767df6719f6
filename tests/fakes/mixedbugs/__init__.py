"""Mistakes mixed precision makes likely, each a PyTorch runtime of its own (a framework folder
outside dlarena: DLARENA_FRAMEWORKS=tests.fakes.mixedbugs), that the parity gate at bfloat16
must fail: the weights kept in bfloat16, the loss computed in bfloat16, and batch norm's
statistics summed in bfloat16."""

from dlarena.frameworks.descriptor import Framework, Runtime

_BUGS = {
    "bf16-weights": "the weights kept in bfloat16 (model.to(torch.bfloat16))",
    "bf16-loss": "the loss computed in bfloat16",
    "bf16-norm": "batch norm's statistics summed in bfloat16",
}

FRAMEWORK = Framework(
    name="mixedbugs",
    runtimes=tuple(
        Runtime(
            name=name,
            display=f"PyTorch with {bug}",
            module=f"tests.fakes.mixedbugs.{name.removeprefix('bf16-')}",
            framework_module="torch",
            distribution="torch",
            api="nn.Module",
            compiled_as="torch.compile",
            tiers=("eager",),
            mixed=f"torch.autocast with {bug}",
        )
        for name, bug in _BUGS.items()
    ),
)
