"""A framework folder outside dlarena, added by one line: DLARENA_FRAMEWORKS=tests.fakes.numpyfw.
NumPy as a framework: inference from the float64 reference (tests/fakes/base.py) and the
debugging mistakes (mistakes.py); it declares no export path, scale-out or hand-written loop."""

from dlarena.frameworks.descriptor import Framework, Runtime

FRAMEWORK = Framework(
    name="numpyfw",
    runtimes=(
        Runtime(
            name="numpyfw",
            display="NumPy (a framework folder of its own)",
            module="tests.fakes.base",
            framework_module="numpy",
            distribution="numpy",
            api="numpy",
            compiled_as="nothing: NumPy runs eagerly",
            modes=("infer",),
        ),
    ),
    mistakes=True,
)
