"""The command line, run as a user runs it: the installed `dlarena` script in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from dlarena.frameworks import FRAMEWORKS, RUNTIMES
from dlarena.runner import envs, making
from dlarena.store import Store

from .conftest import SPECS


def median_speed(cell) -> float:
    return statistics.median(cell.batch_size / b.step_s for b in cell.blocks)


DLARENA = shutil.which("dlarena") or str(Path(sys.executable).parent / "dlarena")


def dlarena(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DLARENA, *args], capture_output=True, text=True, timeout=900)


def empty_store(tmp_path: Path) -> str:
    """A store with nothing in it: read commands need one to exist."""
    Store(tmp_path / "s.sqlite").close()
    return str(tmp_path / "s.sqlite")


def quick_bench(store: str, *args: str) -> subprocess.CompletedProcess:
    # behaviour, not speed: every process is kept as measured (no slow-stretch reruns)
    return dlarena(
        "bench", "--quick", "--slow-reruns", "0", "--workload", "mlp", "--store", store, *args
    )


FRAMEWORK_PACKAGES = sorted(
    {r.framework_module for r in RUNTIMES.values()} | {"flax", "optax", "keras", "onnx"}
)
HOST_MODULES = (
    "dlarena.cli",
    "dlarena.runner.matrix",
    "dlarena.report.html",
    "dlarena.decide.advisor",
    "dlarena.evidence",
    "dlarena.store",
)


def site_packages(env_name: str) -> str:
    python = envs.get(env_name, envs.dlarena_home()).python
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def test_the_host_imports_no_framework_even_where_every_framework_is_importable() -> None:
    # The environments' packages go after the host's own: every framework becomes importable.
    path = [
        str(Path(__file__).parent.parent / "src"),
        site_packages("main"),
        site_packages("mxnet"),
    ]
    code = (
        "import importlib, importlib.util, json, sys\n"
        "packages = json.loads(sys.argv[1])\n"
        "importable = [p for p in packages if importlib.util.find_spec(p)]\n"
        "for module in json.loads(sys.argv[2]): importlib.import_module(module)\n"
        "print(json.dumps([importable, sorted(set(packages) & set(sys.modules))]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(FRAMEWORK_PACKAGES), json.dumps(HOST_MODULES)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
    )
    assert result.returncode == 0, result.stderr
    importable, imported = json.loads(result.stdout)
    assert importable == FRAMEWORK_PACKAGES
    assert imported == []


@pytest.mark.slow
def test_bench_json_parity_and_report_from_one_store(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    both = ("--tier", "eager", "--tier", "compiled")  # --quick alone measures compiled
    bench = quick_bench(store, "--runtime", "onnxruntime", *both, "--format", "json")
    assert bench.returncode == 0, bench.stderr
    document = json.loads(bench.stdout)
    assert [(c["tier"], c["status"], c["parity"]) for c in document["cells"]] == [
        ("eager", "ok", "pass"),
        ("compiled", "ok", "pass"),
    ]
    assert all(
        c["samples_per_s"] > 0 and c["framework_version"] == "1.32.0" for c in document["cells"]
    )
    assert document["spread"].startswith("spread: paired isolation, 1 worker process per cell")
    # where the run's time went: every stage of a cell, and the host's share, add up to its wall
    spent = document["time_s"]
    assert {"peak probe", "start", "import", "build", "parity", "warmup", "probe"} <= set(spent)
    assert {"timed", "latency", "host", "wall"} <= set(spent) and min(spent.values()) >= 0
    assert sum(v for k, v in spent.items() if k != "wall") == pytest.approx(spent["wall"])
    again = quick_bench(store, "--runtime", "onnxruntime", *both, "--format", "json")
    second = json.loads(again.stdout)["cells"]
    twice = json.loads(dlarena("spread", "1", "2", "--store", store, "--format", "json").stdout)
    for row, a, b in zip(twice["cells"], document["cells"], second, strict=True):
        assert row["cell"] == f"mlp/onnxruntime/{a['tier']}/infer"
        a_s, b_s = a["samples_per_s"], b["samples_per_s"]  # CV of two: |a - b| / (a + b)
        assert row["cv"] == pytest.approx(abs(a_s - b_s) / (a_s + b_s))
    # the two tiers took turns in each run (paired): their ratio, run by run
    (pair,) = twice["ratios"]
    assert pair["pair"] == "mlp/onnxruntime/compiled/infer / onnxruntime/eager"
    first, other = pair["ratios"]
    assert pair["cv"] == pytest.approx(abs(first - other) / (first + other))
    assert twice["ratio_median_cv"] == twice["ratio_worst_cv"] == pair["cv"]
    compared = json.loads(dlarena("compare", "1", "2", "--store", store, "--format", "json").stdout)
    db = Store(Path(store), create=False)
    pairs = zip(compared["rows"], db.cells(1, raw=True), db.cells(2, raw=True), strict=True)
    for row, a, b in pairs:
        # B over A; one process a side, never paired across runs: the ratio of the medians of
        # the blocks' throughputs
        assert row["ratio"] == pytest.approx(median_speed(b) / median_speed(a), rel=1e-9)
    db.close()
    listed = json.loads(dlarena("runs", "--store", store, "--format", "json").stdout)
    assert [(r["id"], r["status"], r["cells"]) for r in listed] == [
        (2, "finished", 2),
        (1, "finished", 2),
    ]
    for which, refusal in (("last", "no interrupted run in"), ("1", "run 1 finished")):
        resumed = dlarena("bench", "--resume", which, "--store", store)
        assert resumed.returncode == 2 and refusal in resumed.stderr, resumed.stderr
    once = dlarena("spread", "1", "--store", store)
    assert once.returncode == 2 and "a spread needs two or more runs" in once.stderr

    parity = json.loads(dlarena("parity", "--store", store, "--format", "json").stdout)
    assert parity["cells"][0]["parity_checks"][0]["check"] == "forward"
    assert {c["size"] for c in parity["cells"]} == {"small"}
    small = dlarena("parity", "--store", store, "--size", "small", "--format", "json")
    assert json.loads(small.stdout)["cells"] == parity["cells"]
    tiny = dlarena("parity", "--store", store, "--size", "tiny")
    assert tiny.returncode == 2 and "dlarena bench --size tiny" in tiny.stderr
    now = dlarena("parity", "mlp", "--size", "tiny", "--runtime", "onnxruntime", "--format", "json")
    assert now.returncode == 0, now.stderr
    verdicts = json.loads(now.stdout)["verdicts"]
    assert [(v["tier"], v["passed"], v["checks"][0]["check"]) for v in verdicts] == [
        ("eager", True, "forward"),
        ("compiled", True, "forward"),
    ]
    mixed = dlarena("parity", "mlp", "--store", store)
    assert mixed.returncode == 2 and "leave them out with SPEC" in mixed.stderr

    out = tmp_path / "report" / "index.html"
    report = dlarena("report", "--store", store, "--output", str(out), "--format", "json")
    document = json.loads(report.stdout)
    assert document["html"] == str(out.resolve()) and document["runs"] == [2]
    assert document["answer"].startswith(("torch", "tensorflow", "jax"))
    page = out.read_text()
    assert "plotly" in page and "onnxruntime" in page and "Speed Score" in page
    markdown = out.with_suffix(".md").read_text()
    assert "| mxnet |" in markdown  # the Speed Score table
    row = "| mlp (small) | onnxruntime | eager | infer | fair 2x1 on 2 cpus, malloc keep |"
    assert row in markdown
    # each framework's defaults that differ from the spec, in both renderings
    assert "| JAX | GELU | nn.gelu approximate=True (the tanh approximation) |" in markdown
    assert markdown.count("| initialization |") == len(FRAMEWORKS)
    assert "Defaults that differ from the spec, per framework" in page and "LambdaLR" in page


def test_a_broken_spec_exits_2_with_the_field_named_and_no_traceback(tmp_path: Path) -> None:
    result = dlarena(
        "bench", "--workload", str(SPECS / "broken_op.yaml"), "--store", str(tmp_path / "s.sqlite")
    )
    assert result.returncode == 2
    assert "layers[1].op: 'swish' is not supported; allowed: dense" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_report_without_runs_says_which_command_fills_it(tmp_path: Path) -> None:
    Store(tmp_path / "empty.sqlite").close()
    out = tmp_path / "r" / "index.html"
    result = dlarena("report", "--store", str(tmp_path / "empty.sqlite"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "answer: " in result.stdout
    page = out.read_text()
    assert "Nothing measured passed parity yet" in page and "<code>dlarena bench</code>" in page
    assert "No cell passed parity yet: run `dlarena bench`." in out.with_suffix(".md").read_text()
    assert "No training to a target yet" in page and "<code>dlarena converge</code>" in page
    assert "Not measured yet: run `dlarena converge`." in out.with_suffix(".md").read_text()


def test_read_commands_never_create_a_store_and_name_a_missing_run(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "s.sqlite"
    for command in ("report", "parity", "score", "cost"):
        result = dlarena(command, "--store", str(missing))
        assert result.returncode == 2 and f"no store at {missing}" in result.stderr, command
    assert not (tmp_path / "typo").exists()
    Store(tmp_path / "s.sqlite").close()
    for command in ("report", "parity", "advise", "cost"):
        result = dlarena(command, "--run", "999", "--store", str(tmp_path / "s.sqlite"))
        assert result.returncode == 2, command
        assert "run 999 is not in" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_io_faults_are_user_errors_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "not-sqlite.sqlite").write_text("hello " * 1000)
    (tmp_path / "a-dir.sqlite").mkdir()
    cases = {
        str(tmp_path / "a-file" / "s.sqlite"): "cannot make the store's folder",
        str(tmp_path / "not-sqlite.sqlite"): "cannot be opened (file is not a database)",
        str(tmp_path / "a-dir.sqlite"): "is a directory; give a file path with --store",
    }
    for store, message in cases.items():
        result = quick_bench(store, "--runtime", "onnxruntime")
        assert result.returncode == 2 and message in result.stderr, (store, result.stderr)
        assert "Traceback" not in result.stderr
    assert (tmp_path / "not-sqlite.sqlite").read_text() == "hello " * 1000  # left as it was


def test_report_into_a_file_is_a_user_error(tmp_path: Path) -> None:
    from dlarena.records import CellResult
    from dlarena.run_records import RunConfig

    db = Store(tmp_path / "s.sqlite")
    run_id = db.start_run(RunConfig(), None)
    db.save_cell(run_id, CellResult("mlp", "torch", "eager", "train", "failed", reason="<b>x</b>"))
    db.finish_run(run_id, "finished")
    db.close()
    (tmp_path / "taken").write_text("")
    store = str(tmp_path / "s.sqlite")
    result = dlarena("report", "--store", store, "--output", str(tmp_path / "taken" / "r.html"))
    assert result.returncode == 2 and "cannot write the report to" in result.stderr
    result = dlarena("report", "--store", store, "--output", str(tmp_path / "r" / "index.html"))
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "r" / "index.md").read_text()
    assert "&lt;b&gt;x&lt;/b&gt;" in summary and "<b>" not in summary


def test_envs_list_names_the_builtin_environments() -> None:
    rows = json.loads(dlarena("envs", "list", "--format", "json").stdout)
    assert {"embedded", "main", "mxnet"} <= {r["name"] for r in rows}


def test_envs_check_reads_each_environments_versions_and_create_keeps_an_up_to_date_one() -> None:
    checked = json.loads(dlarena("envs", "check", "--format", "json").stdout)
    assert checked["main"]["torch"].startswith("2.13.0") and checked["main"]["mxnet"] is None
    assert checked["mxnet"]["mxnet"] == "1.9.1" and checked["mxnet"]["torch"] is None
    again = dlarena("envs", "create", "main", "mxnet")
    assert again.returncode == 0, again.stderr
    assert "env 'main': up to date" in again.stderr and "env 'mxnet': up to date" in again.stderr


def test_environments_are_made_with_the_standard_library_alone(tmp_path: Path) -> None:
    """make creates the environments while dlarena's own dependencies install: the module
    that makes them imports nothing beyond the standard library, and says what it did."""
    src = str(Path(envs.__file__).parents[2])
    script = (
        "import sys; import dlarena.runner.making; "
        "print(sorted({m.split('.')[0] for m in sys.modules} - {*sys.stdlib_module_names, "
        "'__main__'}))"
    )
    env = {**os.environ, "PYTHONPATH": src}
    bare = [sys.executable, "-S", "-c", script]  # -S: no site-packages at all
    shown = subprocess.run(bare, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "['dlarena']"
    module = [sys.executable, "-m", "dlarena.runner.making"]
    again = subprocess.run([*module, "main"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "env 'main': up to date" in again.stdout, again.stderr
    home = {**env, "DLARENA_HOME": str(tmp_path)}
    wrong = subprocess.run([*module, "mian"], env=home, capture_output=True, text=True)
    assert wrong.returncode == 1 and "unknown environment 'mian'; known:" in wrong.stderr


def test_two_checkouts_asking_at_once_make_an_environment_once_and_share_it(
    tmp_path: Path,
) -> None:
    """An environment is named by its pins, in one folder per user: two data folders (two
    checkouts) that ask for it at once take turns, one makes it and the other finds it made;
    other pins get a folder of their own."""
    src, root = str(Path(envs.__file__).parents[2]), tmp_path / "envs"

    def checkout(name: str, pins: str) -> dict[str, str]:
        (tmp_path / name / "requirements").mkdir(parents=True)
        (tmp_path / name / "requirements" / "tiny.txt").write_text(pins)
        home = {"DLARENA_HOME": str(tmp_path / name), "DLARENA_ENVS": str(root)}
        return {**os.environ, "PYTHONPATH": src, **home}

    module = [sys.executable, "-m", "dlarena.runner.making", "tiny"]
    both = [
        subprocess.Popen(module, env=checkout(name, "# no packages\n"), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]  # fmt: skip
    said = sorted(p.communicate(timeout=300)[0].strip() for p in both)
    assert [p.returncode for p in both] == [0, 0], said
    (made,) = (p for p in root.iterdir() if p.is_dir())
    assert made.name.startswith("tiny-") and (made / "bin" / "python").exists()
    assert _pip_version(made / "bin" / "python") == making.PIP.split("==")[1]  # not the venv's
    assert said == [
        f"env 'tiny': created ({made / 'bin' / 'python'})",
        f"env 'tiny': up to date ({made / 'bin' / 'python'})",
    ]
    (tmp_path / "c" / "envs" / "main").mkdir(parents=True)  # where an older dlarena made them
    other = subprocess.run(module, env=checkout("c", "# other pins\n"), capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert other.returncode == 0 and "env 'tiny': created" in other.stdout, other.stderr
    assert len([p for p in root.iterdir() if p.is_dir()]) == 2
    assert (
        f"note: environments now live in {root}, shared by every checkout; the ones in "
        f"{tmp_path / 'c' / 'envs'} are no longer used: remove them with rm -rf" in other.stdout
    )
    assert (
        f"note: {root} also holds environments of other pins, which another checkout may use: "
        f"{made.name}; delete any no checkout needs" in other.stdout
    )
    c = {**os.environ, "DLARENA_HOME": str(tmp_path / "c"), "DLARENA_ENVS": str(root)}
    listed = subprocess.run([DLARENA, "envs", "list"], env=c, capture_output=True, text=True)
    said_by_list = " ".join(listed.stderr.split())
    assert listed.returncode == 0 and "also holds environments of other pins" in said_by_list
    assert made.name in said_by_list and "are no longer used" in said_by_list


def test_an_environments_folder_that_cannot_be_made_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "home" / "requirements").mkdir(parents=True)
    (tmp_path / "home" / "requirements" / "tiny.txt").write_text("# no packages\n")
    env = {**os.environ, "PYTHONPATH": str(Path(envs.__file__).parents[2])}
    env |= {"DLARENA_HOME": str(tmp_path / "home"), "DLARENA_ENVS": str(tmp_path / "file" / "envs")}
    module = [sys.executable, "-m", "dlarena.runner.making", "tiny"]
    result = subprocess.run(module, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"error: cannot make environments in {tmp_path / 'file' / 'envs'}: Not a directory; "
        "set DLARENA_ENVS to a folder you can write"
    )


def test_without_a_home_folder_to_write_environments_live_in_the_data_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")  # HOME: a file, as where a service user has none
    (tmp_path / "home" / "requirements").mkdir(parents=True)
    (tmp_path / "home" / "requirements" / "tiny.txt").write_text("# no packages\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DLARENA_ENVS", "XDG_CACHE_HOME")}
    env |= {"HOME": str(tmp_path / "file"), "DLARENA_HOME": str(tmp_path / "home")}
    env["PYTHONPATH"] = str(Path(envs.__file__).parents[2])
    module = [sys.executable, "-m", "dlarena.runner.making", "tiny"]
    result = subprocess.run(module, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (made,) = (tmp_path / "home" / "envs").glob("tiny-*/bin/python")
    assert result.stdout == f"env 'tiny': created ({made})\n"  # and no note: nothing left behind


def test_an_index_without_the_pinned_pip_leaves_the_environment_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned pip replaces the venv's own before the requirements install (the other
    environment tests find it there); an index without it is said, and the environment is made
    all the same."""
    monkeypatch.setenv("DLARENA_ENVS", str(tmp_path / "envs"))
    monkeypatch.setattr(making, "PIP", "pip==0.0.1")  # on no index
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "tiny.txt").write_text("# no packages\n")
    said: list[str] = []
    env = envs.get("tiny", tmp_path)
    assert making.create(env, said.append) and env.exists()
    assert "pip==0.0.1 could not be installed; the environment's own pip goes on" in said
    assert not _pip_version(env.python).startswith("0.0.1")


def _pip_version(python: str | Path) -> str:
    done = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True)
    return done.stdout.split()[1]


def test_the_quick_deploy_pass_takes_an_on_demand_exporter_only_once_it_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-made environment (its python there, pip killed before the end) is not made."""
    from dlarena.probes.deploy import quick_paths

    monkeypatch.setenv("DLARENA_ENVS", str(tmp_path / "envs"))
    home = tmp_path / "home"
    exporter = envs.get("export-mxnet-onnx", home)
    Path(exporter.python).parent.mkdir(parents=True)
    Path(exporter.python).write_text("")
    assert quick_paths("mxnet", home) == ("HybridBlock.export",)
    marker = Path(exporter.python).parent.parent / envs.MARKER
    marker.write_text(json.dumps({"hash": exporter.fingerprint()}))
    assert quick_paths("mxnet", home) == ("HybridBlock.export", "onnx (mx.onnx)")


def test_scan_offline_prints_every_framework_with_sourced_figures(tmp_path: Path) -> None:
    result = dlarena("scan", "--store", empty_store(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document["frameworks"]) == {"torch", "tensorflow", "jax", "mxnet"}
    for framework in document["frameworks"].values():
        assert all(f["source"] in document["sources"] and f["as_of"] for f in framework["figures"])
    mxnet = document["frameworks"]["mxnet"]
    assert mxnet["excluded"] and mxnet["risk_level"] == "high"


def test_scan_rejects_a_malformed_git_option() -> None:
    result = dlarena("scan", "--git", "pytorch:/tmp")
    assert result.returncode == 2
    assert "--git 'pytorch:/tmp' is not NAME=VALUE with NAME one of torch" in result.stderr


EXAMPLES = Path(__file__).parent.parent / "examples"


def test_score_published_only_prints_the_comparisons_table(tmp_path: Path) -> None:
    result = dlarena(
        "score", "--published-only", "--store", empty_store(tmp_path), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    ranking = [
        (r["framework"], round(r["speed_score"], 2)) for r in json.loads(result.stdout)["ranking"]
    ]
    assert ranking == [("torch", 8.96), ("tensorflow", 8.26), ("jax", 7.4), ("mxnet", 5.4)]


@pytest.mark.slow
def test_advise_and_cost_read_the_measured_store(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    bench = quick_bench(
        store, "--runtime", "torch", "--runtime", "jax", "--tier", "compiled", "--mode", "train"
    )
    assert bench.returncode == 0, bench.stderr
    advice = json.loads(
        dlarena(
            "advise",
            "--profile",
            str(EXAMPLES / "research-team.yaml"),
            "--store",
            store,
            "--format",
            "json",
        ).stdout
    )
    assert advice["recommendation"] == "torch"
    assert any("performance" in line and "(measured)" in line for line in advice["rationale"])
    cost = json.loads(
        dlarena(
            "cost",
            "--workload",
            "mlp",
            "--samples",
            "3600000",
            "--store",
            store,
            "--format",
            "json",
        ).stdout
    )
    measured = {r["framework"]: r for r in cost["training"] if r["measured"]}
    assert set(measured) == {"torch", "jax"}
    assert measured["jax"]["hours"] == 3600000 / measured["jax"]["samples_per_s"] / 3600
    assert not next(s for s in cost["scenarios"] if s["name"].startswith("managed"))["follows"]


def test_advise_rejects_an_answer_that_is_not_offered(tmp_path: Path) -> None:
    result = dlarena("advise", "--focus", "fun", "--store", empty_store(tmp_path))
    assert result.returncode == 2
    assert "answers.focus: Input should be 'research', 'production' or 'both' (got 'fun')" in (
        result.stderr
    )


def test_weight_flags_move_the_score_and_bad_ones_are_named(tmp_path: Path) -> None:
    store = empty_store(tmp_path)
    only_maturity = json.loads(
        dlarena(
            "score",
            "--weight",
            "maturity=1",
            "--weight",
            "ecosystem=0",
            "--weight",
            "adoption=0",
            "--weight",
            "learning=0",
            "--weight",
            "performance=0",
            "--store",
            store,
            "--format",
            "json",
        ).stdout
    )
    assert only_maturity["ranking"][0] == {"framework": "tensorflow", "speed_score": 9.8}
    bad = dlarena("score", "--weight", "performance=lots", "--store", store)
    assert bad.returncode == 2 and "'lots' is not a number" in bad.stderr


def test_selfcheck_names_what_it_has_no_loop_for() -> None:
    result = dlarena("selfcheck", "--runtime", "onnxruntime")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "selfcheck has no runtime 'onnxruntime'; choose from torch, tensorflow" in result.stderr


def test_compare_names_a_run_that_is_not_there(tmp_path: Path) -> None:
    result = dlarena("compare", "1", "2", "--store", empty_store(tmp_path))
    assert result.returncode == 2 and "run 1 is not in" in result.stderr


def test_spec_and_profile_validate_exit_0_with_a_summary_or_2_with_the_problem(
    tmp_path: Path,
) -> None:
    good = dlarena("spec", "validate", str(SPECS / "kitchen.yaml"))
    assert good.returncode == 0 and "valid workload 'kitchen' (15 layers" in good.stdout
    bad = dlarena("spec", "validate", str(SPECS / "broken_op.yaml"))
    assert bad.returncode == 2 and "line 6: layers[1].op: 'swish' is not supported" in bad.stderr
    examples = Path(__file__).parent.parent / "examples"
    good = dlarena("profile", "validate", str(examples / "research-team.yaml"), "--format", "json")
    assert good.returncode == 0 and json.loads(good.stdout)["tiers"] == ["eager", "compiled"]
    (tmp_path / "p.yaml").write_text("name: p\ntiers: [jit]\n")
    bad = dlarena("profile", "validate", str(tmp_path / "p.yaml"))
    assert bad.returncode == 2 and "line 2: tiers[0]: Input should be 'eager'" in bad.stderr


def test_spec_show_gives_shapes_parameters_and_flops_per_step() -> None:
    result = dlarena("spec", "show", "cnn", "--size", "full", "--format", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["parameters"] == 25_557_032 and shown["input_shape"] == [224, 224, 3]
    assert shown["layers"][-1]["output_shape"] == [1000]
    assert sum(row["parameters"] for row in shown["layers"]) == shown["parameters"]
    assert shown["train_flops_per_step"] > 3 * shown["infer_flops_per_step"] > 0
    table = dlarena("spec", "show", "mlp", "--size", "tiny")
    assert table.returncode == 0 and "mlp (tiny): 770 parameters, batch 8" in table.stdout
