"""Making environments: a virtualenv per requirement file, its pinned packages installed and
the bytecode of what its workers import written, one process at a time per environment (two
checkouts' `make` share it). Standard library only: `python -m dlarena.runner.making [NAME...]`
makes them while dlarena's own dependencies install."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from dlarena.errors import DlarenaError
from dlarena.frameworks import DECLARED
from dlarena.runner.envs import (
    MARKER,
    Environment,
    dlarena_home,
    environments,
    get,
    notes,
)
from dlarena.runner.process import worker_env
from dlarena.runner.threads import fair

# The pip that installs an environment's requirements, in it first: the one a venv comes with
# (23.2 beside Python 3.11) spent 19-20 CPU-s installing the main environment, pip 26.2 13.
PIP = "pip==26.2.1"


def create(env: Environment, on_line: Callable[[str], None]) -> bool:
    """Make the virtualenv and install its pinned requirements; False if already up to date."""
    if env.requirements is None or env.exists():
        return False
    root = Path(env.python).parent.parent
    with _made_alone(root):
        if env.exists():  # made meanwhile, by another checkout or command
            return False
        _make(env, root, on_line)
    return True


@contextlib.contextmanager
def _made_alone(root: Path) -> Iterator[None]:
    """One process at a time makes an environment (two checkouts' `make` share it)."""
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        lock = (root.parent / f"{root.name}.lock").open("w")
    except OSError as exc:
        raise DlarenaError(
            f"cannot make environments in {root.parent}: {exc.strerror}; "
            "set DLARENA_ENVS to a folder you can write"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _make(env: Environment, root: Path, on_line: Callable[[str], None]) -> None:
    assert env.requirements is not None
    _run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(root)], on_line)
    _install_pip(env, on_line)
    _run([env.python, "-m", "pip", *_INSTALL, "-r", str(env.requirements)], on_line)
    write_bytecode(env, on_line)
    (root / MARKER).write_text(
        json.dumps({"hash": env.fingerprint(), "requirements": str(env.requirements)})
    )


# --no-compile: byte-compiling every file of torch, TensorFlow and JAX at install took a good
# part of the install; the bytecode of what workers import is written after (write_bytecode).
_INSTALL = ["install", "--progress-bar", "off", "--no-compile", "--disable-pip-version-check"]


def _install_pip(env: Environment, on_line: Callable[[str], None]) -> None:
    """PIP into the new environment, by this interpreter's own pip where it has one (`--python`:
    pip 22.3 and later; the pip a venv bundles, installed first, took 2.3 s more); else by the
    bundled one, which goes on itself where the index has no PIP."""
    try:
        _run([sys.executable, "-m", "pip", "--python", env.python, *_INSTALL, PIP], on_line)
        return
    except DlarenaError:
        pass
    _run([env.python, "-m", "ensurepip", "--default-pip"], on_line)
    try:
        _run([env.python, "-m", "pip", *_INSTALL, PIP], on_line)
    except DlarenaError:  # an index without it: the venv's own pip installs, only slower
        on_line(f"{PIP} could not be installed; the environment's own pip goes on")


# Each framework in a process of its own, side by side: what one framework does to the
# interpreter as it loads (TensorFlow hides JAX while it imports) stays out of the others'. Its
# runtimes' modules (the adapter, a raw-API variant: each a process of its own compiled all of
# TensorFlow again, side by side), then what it imports on first use. A module that fails is
# named on a line of its own; after a failed first module nothing more is tried.
_FAILED = "dlarena-import-failed"
_IMPORT = f"""\
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        said = (f"{{type(exc).__name__}}: {{exc}}".splitlines() or [""])[0]
        print("{_FAILED}", name, said, sep="\\t", flush=True)
        if name == sys.argv[1]:
            break
"""


def import_groups(env_name: str) -> list[tuple[str, ...]]:
    """What each bytecode process imports: a framework's runtime modules in the environment,
    then, where its first runtime is there, the modules it imports on first use
    (descriptor.Framework.first_use)."""
    groups = []
    for framework in DECLARED.values():
        modules = tuple(r.module for r in framework.runtimes if r.default_env == env_name)
        if modules and framework.runtimes[0].default_env == env_name:
            modules += framework.first_use
        if modules:
            groups.append(modules)
    return groups


def write_bytecode(env: Environment, on_line: Callable[[str], None]) -> None:
    """Import, once, what the workers of the environment's runtimes import, writing its
    bytecode (pip installs without it, above). On a new environment, workers started side by
    side otherwise each compiled it: TensorFlow's import takes 8.7 s without bytecode and 3.1 s
    with it, torch's 3.4 s and 1.4 s, JAX with Flax and Optax 2.8 s and 0.8 s; torch.compile's
    first use 6.0 s and 1.9 s, inside a measured first call. A module that does not import is
    said and left to its workers, which report it as they always do."""
    groups = import_groups(env.name)
    if not groups:
        return
    variables = worker_env(fair(1))  # a worker's: bytecode written, dlarena's code path

    def load(modules: tuple[str, ...]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [env.python, "-c", _IMPORT, *modules],
            env=variables, capture_output=True, text=True, check=False,
        )  # fmt: skip

    with ThreadPoolExecutor(len(groups)) as pool:
        for modules, done in zip(groups, pool.map(load, groups), strict=True):
            for module, said in _failures(modules, done):
                on_line(f"{module} does not import in env '{env.name}' yet: {said}")


def _failures(modules: tuple[str, ...], done: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(module, what it said) for each module of one bytecode process that did not import; a
    process that died named nothing: its adapter, with the last line it wrote."""
    named = [line.split("\t", 2) for line in done.stdout.splitlines()]
    found = [(n[1], n[2]) for n in named if len(n) == 3 and n[0] == _FAILED]
    if done.returncode != 0 and not found:
        found = [(modules[0], (done.stderr.strip().splitlines() or ["(no output)"])[-1])]
    return found


def create_all(
    targets: list[Environment],
    on_line: Callable[[str, str], None],
    on_done: Callable[[Environment, bool], None],
) -> None:
    """Create the environments at once (pip spends much of an install waiting on files):
    `on_line(name, line)` for pip's output, `on_done(env, created)` as each one is ready."""
    with ThreadPoolExecutor(4) as pool:
        futures = {
            pool.submit(create, env, functools.partial(on_line, env.name)): env for env in targets
        }
        for future in as_completed(futures):
            on_done(futures[future], future.result())


def default_targets(home: Path) -> list[Environment]:
    """What a plain `envs create` makes: every environment but the on-demand export-* ones."""
    return [
        e for e in environments(home).values() if e.requirements is not None and not e.on_demand
    ]


def main(argv: list[str]) -> None:
    """`python -m dlarena.runner.making [NAME...]`: the environments made with the standard
    library alone, so `make` can make them while dlarena's own dependencies install."""
    home = dlarena_home()
    try:
        targets = [get(n, home) for n in argv] if argv else default_targets(home)
        create_all(targets, lambda name, line: None, lambda e, c: print(done_line(e, c)))
    except DlarenaError as exc:
        sys.exit(f"error: {exc}")
    for note in notes(home):
        print(f"note: {note}")


def done_line(env: Environment, created: bool) -> str:
    return f"env '{env.name}': {'created' if created else 'up to date'} ({env.python})"


def _run(command: list[str], on_line: Callable[[str], None]) -> None:
    tail: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            on_line(line.rstrip())
    if proc.returncode != 0:
        raise DlarenaError(
            f"'{' '.join(command[:4])} ...' failed with exit code {proc.returncode}:\n"
            + "\n".join(tail)
            + "\nfix the cause above (disk space, network, pins) and rerun"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
