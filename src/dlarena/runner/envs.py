"""Framework environments: virtualenvs made from pinned requirement files, plus 'embedded'.

Requirement sets are files: the package's own (envs/*.txt) and any the user drops into
<home>/requirements/*.txt (say, a second torch version to benchmark against the first).
Environments named export-* hold exporters that conflict with the main one; they are made on
demand (`dlarena envs create export-NAME`), never by a plain `dlarena envs create`; making
them is `dlarena.runner.making`.

An environment is named by its requirements and the Python that makes it (NAME-FINGERPRINT),
in one folder per user (`environments_root`): every checkout and data folder of the same pins
shares it, and what is compiled against the paths in it (torch.compile's C++ kernels, keyed
by their compiler's command line) is found again from any of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
from importlib import resources
from pathlib import Path

from dlarena.errors import DlarenaError, FrameworkUnavailable
from dlarena.frameworks import RUNTIMES
from dlarena.names import check_name, inside

EMBEDDED = "embedded"
MARKER = "dlarena-env.json"
ON_DEMAND = "export-"


def dlarena_home() -> Path:
    """Where environments, the store and run files live (DLARENA_HOME, else ./.dlarena)."""
    return Path(os.environ.get("DLARENA_HOME", ".dlarena")).resolve()


def environments_root() -> Path:
    """Where environments live: DLARENA_ENVS, else the user's cache folder (XDG_CACHE_HOME,
    else ~/.cache) /dlarena/envs, else (no home folder, or one that cannot be written) the
    data folder's envs/."""
    if os.environ.get("DLARENA_ENVS"):
        return Path(os.environ["DLARENA_ENVS"]).resolve()
    try:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no HOME and no password entry
        return dlarena_home() / "envs"
    shared = (Path(cache) / "dlarena" / "envs").resolve()
    return shared if shared.is_dir() or _can_make(shared) else dlarena_home() / "envs"


def _can_make(folder: Path) -> bool:
    """Whether `folder` could be made: its nearest existing parent is a folder we may write."""
    existing = next(p for p in folder.parents if p.exists())
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


@dataclasses.dataclass(frozen=True)
class Environment:
    name: str
    python: str
    requirements: Path | None  # None: the interpreter running dlarena

    def exists(self) -> bool:
        if self.requirements is None:
            return True
        marker = Path(self.python).parent.parent / MARKER
        return marker.is_file() and json.loads(marker.read_text())["hash"] == self.fingerprint()

    @property
    def on_demand(self) -> bool:
        return self.name.startswith(ON_DEMAND)

    def fingerprint(self) -> str:
        """The requirements and the Python the environment is made with (its version, build
        and installation: a virtualenv runs on the interpreter it was made from)."""
        text = self.requirements.read_text() if self.requirements else ""
        made_by = f"{sys.version} {sys.base_prefix} {platform.machine()}\n"
        return hashlib.sha256((made_by + text).encode()).hexdigest()[:16]


def requirement_files(home: Path) -> dict[str, Path]:
    files = {
        Path(p.name).stem: Path(str(p))
        for p in resources.files("dlarena.envs").iterdir()
        if p.name.endswith(".txt")
    }
    user_dir = home / "requirements"
    if user_dir.is_dir():
        for path in sorted(user_dir.glob("*.txt")):
            check_name(path.stem, f"environment (from {path})")
            files[path.stem] = path
    return files


def environments(home: Path) -> dict[str, Environment]:
    envs = {EMBEDDED: Environment(EMBEDDED, sys.executable, None)}
    folder = environments_root()
    for name, path in requirement_files(home).items():
        unplaced = Environment(name, "", path)
        root = inside(folder, f"{name}-{unplaced.fingerprint()}", "environment")
        envs[name] = dataclasses.replace(unplaced, python=str(root / "bin" / "python"))
    return envs


def get(name: str, home: Path) -> Environment:
    envs = environments(home)
    if name not in envs:
        raise DlarenaError(
            f"unknown environment '{name}'; known: {', '.join(envs)} "
            f"(add one as {home / 'requirements' / (name + '.txt')})"
        )
    return envs[name]


def resolve(runtime: str, home: Path, overrides: dict[str, str]) -> Environment:
    """The environment a runtime's workers run in: asked for, embedded, or its default."""
    if runtime in overrides:
        env = get(overrides[runtime], home)
    elif importlib.util.find_spec(RUNTIMES[runtime].framework_module) is not None:
        env = environments(home)[EMBEDDED]
    else:
        env = get(RUNTIMES[runtime].default_env, home)
    if not env.exists():
        raise FrameworkUnavailable(
            f"{runtime} is not installed in env '{env.name}'; run: dlarena envs create {env.name}"
        )
    return env


def notes(home: Path) -> list[str]:
    """What to say of environment folders this checkout does not use: an older dlarena's, in
    the data folder, and those of other pins beside its own (another checkout's, or older)."""
    root, found = environments_root(), []
    old = home / "envs"
    if old.is_dir() and old != root:
        found.append(
            f"environments now live in {root}, shared by every checkout; "
            f"the ones in {old} are no longer used: remove them with rm -rf {old}"
        )
    used = {Path(e.python).parent.parent for e in environments(home).values() if e.requirements}
    others = sorted(p.name for p in root.glob("*/") if (p / MARKER).is_file() and p not in used)
    if others:
        found.append(
            f"{root} also holds environments of other pins, which another checkout may use: "
            f"{', '.join(others)}; delete any no checkout needs"
        )
    return found


def installed_versions(env: Environment) -> dict[str, str | None]:
    """Each runtime's distribution version in the environment (None where missing)."""
    names = {name: rt.distribution for name, rt in RUNTIMES.items()}
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for k, d in json.loads(sys.argv[1]).items():\n"
        "    try: out[k] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[k] = None\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [env.python, "-c", script, json.dumps(names)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise FrameworkUnavailable(f"env '{env.name}' does not run: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)
