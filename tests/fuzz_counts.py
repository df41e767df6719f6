"""Prints how fuzzed specs and profiles end: accepted, user error, other (must be 0).

PYTHONPATH=. .venv/bin/python -m tests.fuzz_counts [SPECS PROFILES]
"""

from __future__ import annotations

import collections
import sys
import traceback
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings

from dlarena.decide.profile import parse_profile
from dlarena.errors import DlarenaError
from dlarena.spec.schema import parse_spec
from dlarena.validation import parse_text
from tests.test_inputs import PROFILES, SEEDS, mutants


def count(kind: str, parse: Callable[[Any], Any], seeds: list[dict], n: int) -> dict[str, int]:
    found: collections.Counter = collections.Counter()

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutants(seeds))
    def run(data: Any) -> None:
        try:
            parse(parse_text(yaml.safe_dump(data), f"fuzzed {kind}"))
            found["accepted"] += 1
        except DlarenaError:
            found["user error"] += 1
        except Exception:  # noqa: BLE001 - counted and shown: this is what must not happen
            found["other"] += 1
            traceback.print_exc()

    run()
    return {k: found[k] for k in ("accepted", "user error", "other")}


if __name__ == "__main__":
    specs, profiles = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (7500, 3000)))
    print("specs", specs, count("spec", parse_spec, SEEDS, specs))
    print("profiles", profiles, count("profile", parse_profile, PROFILES, profiles))
