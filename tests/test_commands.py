"""What a newcomer meets first: the grouped command list, --version, the example spec, and the
errors and notes that name the fix (the installed `dlarena` script in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from dlarena.cli import app
from dlarena.cli.groups import GROUPS, PAGES
from dlarena.frameworks import RUNTIMES

from .test_cli import DLARENA, dlarena, empty_store

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_help_lists_every_command_once_in_its_group_in_a_newcomers_order() -> None:
    import typer.main

    registered = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    listed = [name for commands in GROUPS.values() for name in commands]
    assert sorted(listed) == sorted(registered)  # a new command needs its one line
    shown = dlarena("--help")
    assert shown.returncode == 0
    sections = re.findall(r"^(\S[^:]*):$", shown.stdout, re.MULTILINE)
    assert sections == ["Options", *GROUPS]
    names = re.findall(r"^  ([a-z]+)  ", shown.stdout, re.MULTILINE)
    assert names == listed  # each once, in a newcomer's order
    for group, commands in GROUPS.items():  # under its own heading
        block = shown.stdout.split(f"\n{group}:\n")[1].split("\n\n")[0]
        assert re.findall(r"^  ([a-z]+) ", block, re.MULTILINE) == list(commands)
    for commands in GROUPS.values():
        for line in commands.values():
            assert line in shown.stdout  # one line each, not wrapped
    docs = Path(__file__).parent.parent / "docs"
    assert set(PAGES) == registered and all((docs / page).is_file() for page in PAGES.values())
    assert "More: docs/measuring.md" in dlarena("bench", "--help").stdout


HELP_IMPORTS = """
import contextlib, io, sys
import typer.main
from dlarena.cli import app, main
group = typer.main.get_command(app)
commands = [[name] for name in group.commands]
for name, cmd in group.commands.items():
    commands += [[name, sub] for sub in getattr(cmd, "commands", {})]
for argv in [[], *commands]:
    sys.argv = ["dlarena", *argv, "--help"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main()
print(len(commands), sorted(m for m in ("pydantic", "numpy", "yaml") if m in sys.modules))
"""


def test_every_commands_help_loads_no_pydantic_numpy_or_yaml() -> None:
    """--help answers at once: what a command needs is imported when it runs, and typer's own
    check of a group's --help flag no longer pulls in pydantic."""
    shown = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    count, loaded = shown.stdout.split(" ", 1)
    assert int(count) > 25 and loaded.strip() == "[]", shown.stdout


def test_version_prints_the_installed_version() -> None:
    shown = dlarena("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"dlarena {version('dlarena')}"


def test_the_example_spec_is_valid_and_its_counts_agree_with_spec_show() -> None:
    spec = str(EXAMPLES / "churn-classifier.yaml")
    valid = json.loads(dlarena("spec", "validate", spec, "--format", "json").stdout)
    shown = json.loads(dlarena("spec", "show", spec, "--format", "json").stdout)
    assert valid["name"] == "churn-classifier"
    assert valid["parameters"] == shown["parameters"] == 25_346  # batch-norm state not counted


def test_a_graph_error_names_the_file_and_the_line_of_the_layer(tmp_path: Path) -> None:
    spec = (EXAMPLES / "churn-classifier.yaml").read_text()
    lines = spec.splitlines()
    broken = next(i for i, line in enumerate(lines) if "op: batch_norm" in line)
    (tmp_path / "s.yaml").write_text(spec.replace("inputs: [act1, block_act]", "inputs: [act1, x]"))
    result = dlarena("spec", "validate", str(tmp_path / "s.yaml"))
    residual = next(i for i, line in enumerate(lines) if "name: residual" in line)
    assert result.returncode == 2
    assert f"s.yaml: line {residual + 1}: layers[4].inputs: 'x' is not an earlier layer" in (
        result.stderr
    )
    (tmp_path / "s.yaml").write_text(spec.replace("op: batch_norm", "op: layer_norm"))
    result = dlarena("spec", "validate", str(tmp_path / "s.yaml"))
    assert result.returncode == 2
    assert f"s.yaml: line {broken + 1}: " in result.stderr and "layer_norm needs" in result.stderr


def test_cost_of_an_unknown_workload_is_an_error_naming_the_choices(tmp_path: Path) -> None:
    result = dlarena("cost", "--workload", "nosuch", "--store", empty_store(tmp_path))
    assert result.returncode == 2
    assert "no workload 'nosuch' to price" in result.stderr and "mlp" in result.stderr


def test_a_read_command_without_a_store_says_which_store_it_looked_for(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    result = subprocess.run(
        [DLARENA, "score", "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "DLARENA_HOME": str(home)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"no store at {home / 'dlarena.sqlite'}" in " ".join(result.stderr.split())
    assert not home.exists()  # reading never creates it
    scored = json.loads(result.stdout)
    assert scored["runs"] == [] and scored["measured"] == "no run that passed parity"
    assert {r["framework"] for r in scored["ranking"]} <= set(RUNTIMES)


def test_run_last_is_refused_clearly_on_an_empty_store(tmp_path: Path) -> None:
    for command in ("report", "parity", "score"):
        result = dlarena(command, "--run", "last", "--store", empty_store(tmp_path))
        assert result.returncode == 2 and "no runs in" in result.stderr, (command, result.stderr)
        result = dlarena(command, "--run", "x1", "--store", empty_store(tmp_path))
        assert result.returncode == 2 and "give a run id or 'last'" in result.stderr, command
