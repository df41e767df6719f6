"""Evidence as tables and as one JSON document (shared by `scan` and the reports)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.table import Table

from dlarena.evidence import Evidence, FrameworkEvidence
from dlarena.evidence.health import finding_dict


def newest_figures(fw: FrameworkEvidence) -> list[Any]:
    metrics = dict.fromkeys(f.metric for f in fw.figures)
    return [fw.newest(m) for m in metrics]


def evidence_document(evidence: Evidence) -> dict[str, Any]:
    return {
        "evaluated_on": evidence.today.isoformat(),
        "sources": evidence.sources,
        "errors": list(evidence.errors),
        "frameworks": {
            name: {
                "health": fw.assessment.health,
                "health_inputs": [
                    {"signal": n, "value": v, "source": f.source, "as_of": f.as_of}
                    for n, v, f in fw.assessment.health_inputs
                ],
                "excluded": fw.assessment.excluded,
                "exclusion_rules": [finding_dict(r) for r in fw.assessment.exclusions],
                "risk_level": fw.assessment.risk_level,
                "risk_signals": [finding_dict(r) for r in fw.assessment.risk_signals],
                "figures": [dataclasses.asdict(f) for f in newest_figures(fw)],
                "history": [dataclasses.asdict(f) for f in fw.figures],
            }
            for name, fw in evidence.frameworks.items()
        },
    }


def evidence_tables(evidence: Evidence) -> list[Table]:
    summary = Table(title=f"S1/S4 evidence, evaluated {evidence.today.isoformat()}")
    for column in ("framework", "health 0-10", "excluded by", "risk", "risk signals"):
        summary.add_column(column)
    for name, fw in evidence.frameworks.items():
        a = fw.assessment
        excluded = [f"{r.name}: {r.detail}" for r in a.exclusions if r.verdict == "excluded"]
        unknown = [f"{r.name}: unknown" for r in a.exclusions if r.verdict == "unknown"]
        summary.add_row(
            name,
            "-" if a.health is None else f"{a.health:.1f}",
            "\n".join(excluded + unknown) or "-",
            a.risk_level,
            "\n".join(
                f"{s.name}: {s.detail} [{s.figure.source if s.figure else '-'}]"
                for s in a.risk_signals
            )
            or "-",
        )
    tables = [summary]
    for name, fw in evidence.frameworks.items():
        table = Table(title=f"{name}: newest figure per metric")
        for column in ("metric", "value", "as of", "source"):
            table.add_column(column)
        for figure in newest_figures(fw):
            table.add_row(figure.metric, figure.shown(), figure.as_of, figure.source)
        tables.append(table)
    return tables
