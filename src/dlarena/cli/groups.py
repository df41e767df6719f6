"""How `dlarena --help` lists the commands: four groups in the order a newcomer uses them, one
line each (a command's full help is its own `--help`)."""

from __future__ import annotations

from typing import Any

from typer._coercion import PassThroughRuntimeParam
from typer.core import TyperGroup

# group -> command -> its line in `dlarena --help`
GROUPS: dict[str, dict[str, str]] = {
    "Set up": {
        "envs": "Create, list and check the frameworks' environments.",
        "spec": "Show, validate or print the schema of a workload spec.",
        "profile": "Validate or print the schema of a profile (your situation).",
        "import": "Your own model from ONNX: a spec, its weights, checked.",
    },
    "Measure": {
        "bench": "Measure the frameworks: parity-gated, stored as it goes.",
        "parity": "Prove a spec computes the same in every runtime.",
        "probe": "Probe export paths and debuggability, per framework.",
        "scale": "Data-parallel training on 1..N workers of this machine.",
        "selfcheck": "dlarena against hand-written loops of the same model.",
        "fidelity": "Spec-built ResNet-50, BERT, GPT-2 vs the originals.",
        "converge": "Train to a target accuracy on real data: time to accuracy.",
    },
    "Read": {
        "report": "Write the decision report (HTML and Markdown) from the store.",
        "runs": "Every run in the store: status and cells kept.",
        "compare": "Run B against run A, cell by cell, with CIs and verdicts.",
        "spread": "How far repeated runs of the same cells land apart.",
        "serve": "A local, read-only dashboard over the store.",
        "screenshots": "A PNG of every dashboard page, for review.",
    },
    "Decide": {
        "advise": "A recommendation for your situation, with its reasons.",
        "score": "The five criteria per framework and the Speed Score.",
        "cost": "Three-year cost scenarios and the measured training cost.",
        "scan": "Ecosystem health, exclusion rules and risk per framework.",
        "migrate": "Your code: what it uses, what maps elsewhere, the move's size.",
    },
}
ORDER = [name for commands in GROUPS.values() for name in commands]
# command -> the page of docs/ (in the source tree) that explains it
PAGES = {
    **dict.fromkeys(("envs", "bench", "parity", "selfcheck", "fidelity"), "measuring.md"),
    "converge": "measuring.md",
    **dict.fromkeys(("runs", "compare", "spread"), "measuring.md"),
    **dict.fromkeys(("spec", "profile"), "spec-format.md"),
    "probe": "probes.md",
    "import": "importing.md",
    "scale": "scale-out.md",
    **dict.fromkeys(("report", "serve", "screenshots"), "reading.md"),
    **dict.fromkeys(("advise", "score", "cost", "scan"), "deciding.md"),
    "migrate": "migrating.md",
}


class PlainHelp(TyperGroup):
    """A command group whose own --help flag is read without pydantic. typer checks a flag's
    value with a pydantic TypeAdapter made on first use, and a group's flag is unset (None, not
    a bool) whenever a command under it runs: every `dlarena COMMAND --help` imported pydantic
    for it, 145 ms of its 390."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option._runtime_param is None:
            info = option.type_descriptor.parameter_info
            option._runtime_param = PassThroughRuntimeParam(annotation=bool, parameter_info=info)
        return option


class GroupedCommands(PlainHelp):
    """The top-level command group: commands in ORDER, under their group's heading, with their
    one-line help and, under their own --help, the docs page that explains them."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for commands in GROUPS.values():
            if command is not None and cmd_name in commands:
                command.short_help = commands[cmd_name]
        if command is not None and cmd_name in PAGES and not command.epilog:
            command.epilog = f"More: docs/{PAGES[cmd_name]} in dlarena's source tree."
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """One section per group, one line per command, never cut short."""
        listed = set(self.list_commands(ctx))
        others = sorted(listed - set(ORDER))
        for group, commands in (*GROUPS.items(), ("Other", dict.fromkeys(others, ""))):
            rows = [(name, line or self._line(ctx, name)) for name, line in commands.items()]
            rows = [row for row in rows if row[0] in listed]
            if rows:
                with formatter.section(group):
                    formatter.write_dl(rows)

    def _line(self, ctx: Any, name: str) -> str:
        command = self.get_command(ctx, name)
        return command.get_short_help_str(limit=200) if command is not None else ""
