"""What a framework folder declares about itself, host-safe (it names modules and capabilities
and imports no framework): its runtimes, its export paths, its data-parallel scenarios and
which of the per-framework parts it has. The registry (frameworks/__init__.py) collects them.

A folder frameworks/<name>/ holds the framework's code beside this declaration:
adapter.py (the spec-built model every cell runs) with layers.py (each spec op as the framework's
layer), raw.py (an API variant, optional),
exports.py (the export paths' code), mistakes.py (the debugging probe's cases), scale.py (the
data-parallel replica), selfcheck.py (the hand-written training loop). It also names the
defaults of its own that differ from the spec and what its adapter sets instead (`overrides`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

TIERS = ("eager", "compiled")
MODES = ("train", "infer")
LOOPBACK = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class Runtime:
    name: str
    display: str
    module: str  # the adapter module, imported only inside a worker
    framework_module: str  # what must be importable in the environment
    distribution: str  # the pip distribution whose version is recorded
    api: str  # the API level the adapter is written in
    compiled_as: str  # what the 'compiled' tier means for this runtime
    default_env: str = "main"
    modes: tuple[str, ...] = MODES
    tiers: tuple[str, ...] = TIERS
    # What `--threading tuned` sweeps: intra/inter-op pools, or only the CPUs allowed (a
    # runtime that sizes its pools from OMP_NUM_THREADS or from its affinity).
    thread_knobs: tuple[str, ...] = ("intra", "inter")
    # An API variant of another runtime (its raw ops beside its layer library): measured on
    # request, never part of the decision, shown beside the runtime it varies.
    variant_of: str | None = None
    repo: str | None = None  # GitHub owner/name, for the evidence collectors
    package: str | None = None  # PyPI package, for the evidence collectors
    # How it computes in mixed precision (bf16, fp16 over float32 parameters): its own mechanism,
    # named in a mixed-precision cell's API label; empty: float32 only (its adapter says why)
    mixed: str = ""

    def api_at(self, precision: str) -> str:
        """The API label of a cell at `precision`: 'nn.Module + torch.autocast (bf16)'."""
        if precision == "fp32":
            return self.api
        return f"{self.api} + {self.mixed or 'float32 only'} ({precision})"

    @property
    def compared(self) -> bool:
        """Part of the framework decision (evidence, scoring), not only a runtime to measure."""
        return self.repo is not None

    def variant(self, name: str, display: str, module: str, api: str) -> Runtime:
        """An API variant of this runtime: same framework, environment and compiler; measured on
        request, never part of the decision."""
        return dataclasses.replace(
            self, name=name, display=display, module=module, api=api, variant_of=self.name,
            repo=None, package=None, mixed="",
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Export:
    """One way a model leaves the framework, by the name its exports.py gives it; `env`: the
    environment of an exporter that conflicts with the main one (made on demand)."""

    path: str
    env: str | None = None


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A framework's data-parallel machinery: the runtime whose environment runs it, its worker
    module, whether it is one process over N devices (`one_process`) or N processes, the
    processes it needs besides the workers (MXNet's scheduler and parameter server: `helpers`,
    each started as `python *helper_argv`: `-c "import mxnet"`), and each process's variables
    from (role, workers, port)."""

    name: str
    runtime: str
    module: str
    mechanism: str
    one_process: bool = False
    gpu: bool = False  # written for GPUs too
    helpers: tuple[str, ...] = ()
    helper_argv: tuple[str, ...] = ()
    env: Callable[[str, int, int], dict[str, str]] = lambda role, world, port: {}


@dataclasses.dataclass(frozen=True)
class Override:
    """A default of the framework's that differs from the spec, and what its adapter does about
    it: what a team moving a model into or out of this framework must set by hand."""

    setting: str
    default: str  # the framework's own
    dlarena: str  # what the adapter sets or writes instead


@dataclasses.dataclass(frozen=True)
class OverrideRow:
    """An override as the report lists it: the framework's display name and the override."""

    framework: str
    setting: str
    default: str
    dlarena: str


@dataclasses.dataclass(frozen=True)
class Framework:
    """Everything dlarena knows about one framework folder. `mistakes`/`selfcheck`: whether
    the folder has the debugging probe's cases and a hand-written loop. `first_use`: modules
    the framework imports only when first used (its compiler, its exporters): an environment
    writes their bytecode when it is made, as it does for the adapters', so that a machine's
    first run compiles none of the framework's Python inside a measured first call."""

    name: str
    runtimes: tuple[Runtime, ...]
    exports: tuple[Export, ...] = ()
    scale: tuple[Scenario, ...] = ()
    mistakes: bool = False
    selfcheck: bool = False
    first_use: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()
    package: str = ""  # the folder as a package (set by the registry)

    def part(self, name: str) -> str:
        """The module of one of the folder's parts (adapter, exports, mistakes, ...)."""
        return f"{self.package or f'dlarena.frameworks.{self.name}'}.{name}"
