"""A framework is a folder plus one registry line: a folder outside dlarena
(tests/fakes/numpyfw), named in DLARENA_FRAMEWORKS, is benchmarked, proved, probed and reported
like a built-in one, and the parts it does not declare are refused by name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dlarena.frameworks import FOLDERS, FRAMEWORKS, RUNTIMES, having, overrides

from .test_cli import DLARENA

ROOT = Path(__file__).resolve().parents[1]
ADDED = {**os.environ, "DLARENA_FRAMEWORKS": "tests.fakes.numpyfw", "PYTHONPATH": str(ROOT)}


def cli(*args: str, env: dict[str, str] = ADDED) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DLARENA, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def test_every_training_framework_names_the_defaults_its_adapter_overrides() -> None:
    """The report's list: each framework of the decision that trains, with what it sets."""
    rows = overrides()
    trainers = {RUNTIMES[n].display for n in FRAMEWORKS if "train" in RUNTIMES[n].modes}
    assert {r.framework for r in rows} == trainers
    assert all(r.setting and r.default and r.dlarena for r in rows)
    initialized = [r.framework for r in rows if r.setting == "initialization"]
    assert sorted(initialized) == sorted(trainers)  # the canonical weights replace every init


def test_the_built_in_folders_declare_every_runtime_and_part() -> None:
    assert set(FOLDERS) <= {r.variant_of or r.name for r in RUNTIMES.values()}
    assert having("selfcheck") == having("mistakes") == having("exports") == having("scale")
    assert "numpyfw" not in RUNTIMES  # only where the variable names it


@pytest.mark.slow
def test_a_framework_folder_outside_dlarena_is_benched_proved_probed_and_reported(
    tmp_path: Path,
) -> None:
    store = str(tmp_path / "s.sqlite")
    tiny = ("--workload", "mlp", "--size", "tiny")
    bench = cli(
        "bench", "--runtime", "numpyfw", *tiny, "--tier", "eager", "--tier", "compiled",
        "--quick", "--slow-reruns", "0", "--store", store, "--format", "json",
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    cells = json.loads(bench.stdout)["cells"]
    assert [(c["runtime"], c["tier"], c["mode"], c["parity"]) for c in cells] == [
        ("numpyfw", "eager", "infer", "pass"),
        ("numpyfw", "compiled", "infer", "pass"),
    ]
    proved = cli("parity", "mlp", "--size", "tiny", "--runtime", "numpyfw", "--format", "json")
    assert proved.returncode == 0, proved.stderr
    assert all(v["status"] == "ok" for v in json.loads(proved.stdout)["verdicts"])
    debug = cli("probe", "debug", "--framework", "numpyfw", "--store", store, "--format", "json")
    assert debug.returncode == 0, debug.stderr
    records = {(r["probe"], r["tier"]): r for r in json.loads(debug.stdout)}
    assert {k[0] for k, r in records.items() if r["caught"]} == {"shape"}  # NumPy promotes
    # np.errstate(invalid='raise') stops at the NaN, but its message never says NaN
    checked = records[("nan_check", "eager")]
    assert checked["error_type"] == "builtins.FloatingPointError" and checked["status"] == "fails"
    report = cli("report", "--store", store, "--output", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert "numpyfw" in (tmp_path / "r.html").read_text()
    for command in (("selfcheck", "--runtime", "numpyfw"), ("scale", "--framework", "numpyfw")):
        refused = cli(*command)
        assert refused.returncode == 2 and "torch" in refused.stderr, refused.stderr
    deploy = cli("probe", "deploy", "--framework", "numpyfw", "--store", store)
    assert deploy.returncode == 2 and "choose torch" in deploy.stderr, deploy.stderr


def test_a_framework_folder_that_is_not_there_is_a_user_error() -> None:
    wrong = cli("runs", env={**ADDED, "DLARENA_FRAMEWORKS": "tests.fakes.nosuch"})
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "DLARENA_FRAMEWORKS names 'tests.fakes.nosuch'" in wrong.stderr
