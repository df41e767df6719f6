"""How dlarena starts every process that runs framework code: the environment it gets (no
credentials, thread settings, memory policy, dlarena's code path, a temporary folder of its
own) and the command line that pins it to its CPUs and ties its life to the host's."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import dlarena
from dlarena.records import Threading

SRC_DIR = str(Path(dlarena.__file__).resolve().parent.parent)


# Credentials a worker never needs: a framework under test sees none of them.
CREDENTIAL = re.compile(r"(TOKEN|_KEY|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$|^(AWS|GH|GITHUB)_")


# glibc: serve large blocks from the heap and never trim it, so what a step frees is there for
# the next (the default hands blocks over 128 KiB-32 MiB back to the system, by a threshold
# that moves with each process's history). The top pad of one heap's size (64 MiB) keeps a
# thread's extra heaps mapped once freed: without it, glibc unmaps a thread arena's heap as
# soon as it empties (MXNet's engine thread: 500-1,000 page faults a step, in some processes).
# Other C libraries ignore these.
MALLOC_KEEP = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_TOP_PAD_": str(64 << 20),
}
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_TOP_PAD_": -2, "MALLOC_MMAP_THRESHOLD_": -3}


@functools.cache
def keep_freed_memory() -> None:
    """MALLOC_KEEP for this process, from now on (glibc's mallopt): the float64 references
    allocate and free arrays of tens of MB each op, and each one handed back to the system is
    zeroed again page by page on the next (page faults: 57% fewer on a wide MLP's reference).
    Nothing this process times depends on it; elsewhere than glibc, nothing changes."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        for name, param in _MALLOPT.items():
            libc.mallopt(param, int(MALLOC_KEEP[name]))


SCRATCH = "dlarena-workers-"


@functools.cache
def scratch_dir() -> str:
    """The temporary folder of this host's workers, removed when the host exits: TensorFlow
    writes a source file there for every function autograph converts, which a worker that is
    killed or ends with os._exit never removes. A killed host's folder is removed by the next
    host (its name holds the host's PID; its workers died with it)."""
    _remove_orphans()
    path = tempfile.mkdtemp(prefix=f"{SCRATCH}{os.getpid()}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    _link_kept(Path(path))
    return path


def _remove_orphans() -> None:
    """The scratch folders of this user's hosts that are no longer running."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH}*-*"):
        pid = folder.name.removeprefix(SCRATCH).split("-")[0]
        with contextlib.suppress(OSError, ValueError):
            if folder.stat().st_uid == os.getuid() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _link_kept(scratch: Path) -> None:
    """torch.compile keeps its precompiled headers in the temporary folder's
    torchinductor_USER, whatever TORCHINDUCTOR_CACHE_DIR says, for later runs: the scratch
    folder links there, so a worker finds them where a plain script does (without the link
    each worker built them again: 5 s of a torch cell's first compile, 150 MB written). A
    folder that cannot be linked leaves the worker its own, as before."""
    kept = Path(_inductor_cache())
    with contextlib.suppress(OSError):
        kept.mkdir(parents=True, exist_ok=True)
        (scratch / kept.name).symlink_to(kept, target_is_directory=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid_{os.getuid()}"


def _inductor_cache() -> str:
    """Where torch.compile keeps its compiled kernels by default, kept there across runs (the
    name torch gives it)."""
    return str(
        Path(tempfile.gettempdir()) / re.sub(r'[\\/:*?"<>|]', "_", f"torchinductor_{_user()}")
    )


def untimed_cache() -> str:
    """Where processes that time nothing (parity checkers) keep what they compiled, across runs
    (a measured worker never reads it: its first call is what a user's first call costs)."""
    return str(Path(tempfile.gettempdir()) / f"dlarena-untimed-cache-{_user()}")


def worker_env(threading: Threading) -> dict[str, str]:
    """The host's environment without credentials, the thread settings a framework reads from
    its environment, the memory policy, dlarena's code path and a temporary folder of its own."""
    env = {k: v for k, v in os.environ.items() if not CREDENTIAL.search(k.upper())}
    # Each worker keeps the bytecode of what it imports (environments are installed without it):
    # with PYTHONDONTWRITEBYTECODE inherited, every worker compiled its framework's Python again
    # (TensorFlow's import 9 s instead of 4 s, torch's 4.5 s instead of 2.4 s)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC_DIR, env.get("PYTHONPATH")]))
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", _inductor_cache())
    env.setdefault("DLARENA_UNTIMED_CACHE", untimed_cache())
    env["TMPDIR"] = scratch_dir()
    threads = str(threading.intra_op)
    env.update(
        {
            "OMP_NUM_THREADS": threads,  # MXNet (one thread by default), OpenMP-based kernels
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "PJRT_NPROC": threads,  # JAX's CPU client; XLA_FLAGS thread settings are ignored
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "KERAS_BACKEND": "tensorflow",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if threading.malloc == "keep":
        env.update(MALLOC_KEEP)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Runs in a small Python of its own, then execs the worker: the worker dies with the host (a
# killed host leaves no orphan measuring on) and is on its CPUs from its first instruction, so
# every thread it or its framework starts inherits them. Both survive exec. (Setting them in a
# preexec_fn runs Python between fork and exec, which can deadlock a host with live threads.)
_PIN = (
    "import ctypes, json, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"  # PR_SET_PDEATHSIG
    "cpus = json.loads(sys.argv[1])\n"
    "if cpus:\n"
    "    os.sched_setaffinity(0, cpus)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def pinned(python: str, argv: list[str], cpus: tuple[int, ...]) -> list[str]:
    """The command line that runs `python *argv` on `cpus` (all CPUs if empty), dying with
    this process."""
    return [python, "-I", "-S", "-c", _PIN, json.dumps(list(cpus)), python, *argv]


def spawn(
    python: str,
    argv: list[str],
    cpus: tuple[int, ...],
    env: dict[str, str],
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    text: bool = False,
) -> subprocess.Popen:
    """Every framework process dlarena starts, started here: `python *argv` on `cpus`, with a
    worker's environment `env`, a pipe on stdin, dying with this process, and in a process
    group of its own, which `kill_group` removes whole."""
    return subprocess.Popen(
        pinned(python, argv, cpus),
        stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, text=text, env=env,
        start_new_session=True,
    )  # fmt: skip


def kill_group(proc: subprocess.Popen) -> None:
    """Kill what is left of a process's group: the process if it is still there, and whatever
    it started (a framework's compiler helpers) once it has left without waiting."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
