"""Decisions: the Speed Score table, scoring properties, the advisor's tree, profiles, cost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlarena.converge.records import ConvergeRecord, CurvePoint
from dlarena.decide import advisor
from dlarena.decide.cost import PUBLISHED, Scenario, check
from dlarena.decide.criteria import criteria, performance_ratios, published_criteria
from dlarena.decide.profile import ANSWERS, CRITERIA, Profile, load_profile, profile_from_dict
from dlarena.decide.scorecard import scorecard
from dlarena.decide.scoring import ranking, sensitivity, speed_scores
from dlarena.decide.target import target_ratios
from dlarena.errors import DlarenaError
from dlarena.evidence import gather
from dlarena.frameworks import FRAMEWORKS
from dlarena.records import Block, CellResult, ParityCheck, TimingSummary
from dlarena.store.selection import Selection

EXAMPLES = Path(__file__).parent.parent / "examples"
EVIDENCE = gather(today=dt.date(2026, 11, 25))


def matrix(crit: dict) -> np.ndarray:
    return np.array([[crit[f][c].value for c in CRITERIA] for f in FRAMEWORKS])


def test_published_criteria_reproduce_the_comparisons_speed_scores() -> None:
    scores = speed_scores(matrix(published_criteria(EVIDENCE)), np.ones(5))
    assert [round(float(s), 2) for s in scores] == [8.96, 8.26, 7.40, 5.40]
    assert [round(float(s), 1) for s in scores] == [9.0, 8.3, 7.4, 5.4]
    assert [name for name, _ in ranking(list(FRAMEWORKS), scores)] == list(FRAMEWORKS)


weights_st = st.lists(st.floats(0.01, 10), min_size=5, max_size=5)
values_st = st.lists(st.lists(st.floats(0, 10), min_size=5, max_size=5), min_size=4, max_size=4)


@given(values_st, weights_st, st.floats(0.01, 100))
def test_scores_do_not_change_when_all_weights_are_scaled(values, weights, factor) -> None:
    v, w = np.array(values), np.array(weights)
    assert np.allclose(speed_scores(v, w), speed_scores(v, w * factor))


@given(
    values_st,
    weights_st,
    st.lists(st.floats(0, 3), min_size=5, max_size=5),
    st.integers(0, 4),
)
def test_a_framework_better_somewhere_and_never_worse_ranks_above(
    values, weights, gains, better
) -> None:
    v = np.array(values)
    v[0] = np.minimum(v[0], 9.0)
    gain = np.array(gains)
    gain[better] = max(gain[better], 1.0)  # a gain the ranking's rounding cannot hide
    v[1] = np.minimum(v[0] + gain, 10.0)  # 'b' dominates 'a', strictly on one criterion
    order = [name for name, _ in ranking(["a", "b", "c", "d"], speed_scores(v, np.array(weights)))]
    assert order.index("b") < order.index("a")


def test_sensitivity_flags_a_close_call_and_not_a_clear_lead() -> None:
    clear = sensitivity(
        list(FRAMEWORKS), matrix(published_criteria(EVIDENCE)), np.ones(5), CRITERIA
    )
    assert clear.p_first["torch"] > 0.9 and not clear.close_call
    close = np.array([[8, 8, 8, 8, 8], [9, 7, 8, 8, 8], [1] * 5, [1] * 5], dtype=float)
    tight = sensitivity(list(FRAMEWORKS), close, np.ones(5), CRITERIA)
    assert tight.close_call and 0.2 <= tight.p_first["tensorflow"] <= 0.8
    assert len(tight.one_at_a_time) == 10


def cell(
    cell_id: int, runtime: str, workload: str, mode: str, tier: str, sps: float, passed: bool = True
) -> CellResult:
    """A stored cell at `sps` samples/s (batch 10), its 12 blocks within +-1% of it."""
    jitter = np.linspace(0.99, 1.01, 12)
    return CellResult(
        spec='{"batch_size": 10}',
        blocks=tuple(Block(0, 10, 10 * 10 / (sps * j)) for j in jitter),
        workload=workload,
        runtime=runtime,
        tier=tier,
        mode=mode,
        status="ok",
        parity=(ParityCheck("forward", 0.0, 0.0, 1e-4, passed),),
        summary=TimingSummary(1.0, 1.0, 1.0, sps),
        id=cell_id,
        run_id=7,
    )


def test_performance_is_the_geometric_mean_relative_to_the_best_over_parity_passing_cells() -> None:
    cells = [
        cell(1, "torch", "mlp", "train", "compiled", 100.0),
        cell(2, "jax", "mlp", "train", "compiled", 200.0),
        cell(3, "torch", "cnn", "train", "compiled", 50.0),
        cell(4, "jax", "cnn", "train", "compiled", 25.0),
        cell(5, "mxnet", "cnn", "train", "compiled", 999.0, passed=False),  # never counts
        cell(6, "onnxruntime", "cnn", "infer", "compiled", 1e6),  # not a framework
        cell(8, "jax-raw", "mlp", "train", "compiled", 1e6),  # an API variant, not a framework
        cell(7, "torch", "cnn", "train", "eager", 1.0),
    ]  # tier not chosen
    ratios = performance_ratios(cells, Profile())
    counted = {group: ratio for group, ratio, *_ in ratios["torch"]}
    assert counted == {"mlp/train/compiled": pytest.approx(0.5), "cnn/train/compiled": 1.0}
    crit = criteria(EVIDENCE, cells, 7, Profile())
    assert crit["torch"]["performance"].value == pytest.approx(10 * 0.5**0.5, abs=0.01)
    assert crit["jax"]["performance"].basis == "measured"
    assert crit["mxnet"]["performance"].basis == "published"  # its only cell failed parity


def test_a_difference_that_is_not_significant_counts_as_none() -> None:
    cells = [
        cell(1, "torch", "mlp", "train", "compiled", 100.0),
        cell(2, "jax", "mlp", "train", "compiled", 100.5),  # inside the blocks' own spread
        cell(3, "mxnet", "mlp", "train", "compiled", 80.0),
    ]
    ratios = {fw: r for fw, (r,) in performance_ratios(cells, Profile()).items()}
    assert ratios["torch"][1] == 1.0 and "no significant difference" in ratios["torch"][2]
    assert ratios["mxnet"][1] == pytest.approx(80 / 100.5, rel=1e-3) and "p " in ratios["mxnet"][2]
    assert ratios["jax"][2] == "the best"


def run_to(
    framework: str, seed: int, seconds: float | None, tier: str = "compiled"
) -> ConvergeRecord:
    """A `dlarena converge` record of digits-mlp: reached in `seconds`, or missed (None) after
    training 10 s."""
    status = "reached" if seconds is not None else "missed"
    curve = (CurvePoint(0, 2.3, 0.1, 0.0), CurvePoint(300, 0.2, 0.95, 10.0))
    return ConvergeRecord(framework, "digits-mlp", tier, seed, f"digits-mlp seed {seed}", 0.9,
                          status, seconds_to_target=seconds, curve=curve)  # fmt: skip


def test_time_to_target_counts_in_performance_paired_by_seed() -> None:
    """torch is twice as fast to the target as jax in every seed (significant); tensorflow is
    within the seeds' own spread of torch; mxnet never reaches it; eager runs are not the
    profile's."""
    records = [
        *(run_to("jax", s, t) for s, t in ((1, 2.0), (2, 3.0), (3, 4.0))),
        *(run_to("torch", s, t) for s, t in ((1, 1.0), (2, 1.5), (3, 2.0))),
        *(run_to("tensorflow", s, t) for s, t in ((1, 0.9), (2, 1.6), (3, 2.1))),
        *(run_to("mxnet", s, None) for s in (1, 2, 3)),
        run_to("jax", 1, 0.01, "eager"),
    ]
    ratios = {fw: r for fw, (r,) in target_ratios(records, Profile()).items()}
    assert ratios["torch"][:2] == ("digits-mlp/time to 0.9/compiled", 1.0)
    assert ratios["jax"][1] == pytest.approx(0.5) and "CI" in ratios["jax"][2]
    assert ratios["tensorflow"][1] == 1.0 and "no significant difference" in ratios["tensorflow"][2]
    assert ratios["mxnet"][1] == pytest.approx(1.5 / 10.0) and "missed" in ratios["mxnet"][2]
    evidence = dataclasses.replace(EVIDENCE, convergence=tuple(records))
    crit = criteria(evidence, [cell(1, "jax", "mlp", "train", "compiled", 100.0)], 7, Profile())
    jax = crit["jax"]["performance"]
    assert jax.basis == "measured" and jax.value == pytest.approx(10 * 0.5**0.5, abs=0.01)
    assert "seconds to a held-out target" in jax.inputs[0]
    assert crit["torch"]["performance"].basis == "measured"  # from time to target alone
    only_eager = Profile(tiers=("eager",))
    assert target_ratios(records, only_eager) == {}  # one framework trained eager: no ratio


def test_confidence_counts_how_far_the_measured_figures_could_move() -> None:
    cells = [
        cell(1, "torch", "mlp", "train", "compiled", 100.0),
        cell(2, "tensorflow", "mlp", "train", "compiled", 97.0),
    ]
    card = scorecard(EVIDENCE, Selection(tuple(cells)), Profile())
    ((_, ratio, _, log_sd),) = performance_ratios(cells, Profile())["tensorflow"]
    assert ratio == pytest.approx(0.97, rel=1e-3) and 0 < log_sd < 0.01  # +-1% blocks
    assert card.criteria["tensorflow"]["performance"].log_sd == pytest.approx(log_sd)
    assert card.criteria["mxnet"]["performance"].log_sd == 0.0  # published: no interval
    sure = advisor.advise(EVIDENCE, card)
    vague = np.where(card.log_sd > 0, 0.3, 0.0)  # the same figures, measured far less precisely
    unsure = advisor.advise(EVIDENCE, dataclasses.replace(card, log_sd=vague))
    assert sure.recommendation == unsure.recommendation
    assert unsure.confidence < sure.confidence


SPEED_FIRST = (("ecosystem", 1.0), ("maturity", 1.0), ("adoption", 1.0), ("learning", 1.0),
               ("performance", 8.0))  # fmt: skip


@pytest.mark.parametrize("weights", [Profile().weights, SPEED_FIRST], ids=["equal", "speed"])
def test_the_answer_flips_where_it_says_it_does(weights) -> None:
    profile = dataclasses.replace(Profile(), weights=weights)
    card = scorecard(EVIDENCE, Selection(()), profile)
    advice = advisor.advise(EVIDENCE, card)
    first, second = advice.recommendation, advice.runner_up
    points = advisor.flip_points(card, advice.votes, first, second)
    row, column = FRAMEWORKS.index(second), CRITERIA.index("performance")
    needed = card.values[row, column] + points
    if weights == SPEED_FIRST:  # jax leads tensorflow by a tenth of a performance point
        assert f"flips to {second} if its performance rose from" in advice.flip
        assert f"to {needed:.1f}" in advice.flip and needed <= 10
    else:  # torch leads by more than performance can make up
        assert advice.flip.startswith(f"no performance figure can flip it: {second} would need")
        assert needed > 10
    for nudge, winner in ((-0.01, first), (0.01, second)):
        values = card.values.copy()
        values[row, column] += points + nudge
        moved = advisor.advise(EVIDENCE, dataclasses.replace(card, values=values))
        assert moved.recommendation == winner


def answers_reaching(question: str, answer: str) -> Profile:
    return Profile().with_answers({question: answer})


@pytest.mark.parametrize("leaf", advisor.leaves(), ids=lambda x: f"{x.question}={x.answer}")
def test_every_leaf_of_the_tree_is_reached_and_votes(leaf) -> None:
    profile = answers_reaching(leaf.question, leaf.answer)
    card = scorecard(EVIDENCE, Selection(()), profile, published_only=True)
    advice = advisor.advise(EVIDENCE, card)
    assert advice.trail == (leaf,)
    for framework, vote in leaf.votes:
        assert advice.votes[framework] == vote
    assert any(leaf.because in line for line in advice.rationale)


def test_the_tree_covers_every_answer_the_profile_accepts() -> None:
    reached = {(leaf.question, leaf.answer) for leaf in advisor.leaves()}
    assert reached == {(q, a) for q, answers in ANSWERS.items() for a in answers}


def test_research_profile_recommends_pytorch_with_evidence() -> None:
    profile = load_profile(EXAMPLES / "research-team.yaml")
    advice = advisor.advise(EVIDENCE, scorecard(EVIDENCE, Selection(()), profile))
    assert (advice.recommendation, advice.runner_up) == ("torch", "tensorflow")
    assert advice.confidence > 0.9
    assert any("mxnet is not a candidate" in w and "S1 rule" in w for w in advice.warnings)


def test_mobile_profile_excludes_frameworks_without_edge_support() -> None:
    profile = load_profile(EXAMPLES / "mobile-product.yaml")
    advice = advisor.advise(EVIDENCE, scorecard(EVIDENCE, Selection(()), profile))
    assert advice.recommendation == "tensorflow"
    assert any(
        w.startswith("jax is not a candidate: requirement mobile_edge: support is poor")
        for w in advice.warnings
    )


def test_answers_that_pull_two_ways_warn_of_the_multi_framework_antipattern() -> None:
    profile = Profile().with_answers(
        {
            "focus": "research",
            "mobile_edge": "yes",
            "infrastructure": "azure",
            "team_expertise": "tensorflow",
        }
    )
    card = scorecard(EVIDENCE, Selection(()), profile, published_only=True)
    advice = advisor.advise(EVIDENCE, card)
    assert advice.votes["torch"] == advice.votes["tensorflow"] == 2.5
    assert any("pull towards both" in w for w in advice.warnings)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weights": {"speed": 1}}, "weights.speed: Input should be 'ecosystem', 'maturity'"),
        ({"weights": {"learning": -1}}, "weights.learning: Input should be greater than or equal"),
        ({"weights": {"learning": float("inf")}}, "weights.learning: .*finite"),
        ({"weights": dict.fromkeys(CRITERIA, 0)}, "all weights are zero"),
        ({"requirements": ["quantum"]}, "requirements\\[0\\]: Input should be 'mobile_edge'"),
        ({"answers": {"focus": "fun"}}, "answers.focus: Input should be 'research', 'production'"),
        ({"answers": {"budget": "big"}}, "answers.budget: unknown field 'budget'; allowed: focus"),
        ({"colour": "blue"}, "colour: unknown field 'colour'"),
        ({"tiers": ["jit"]}, "tiers\\[0\\]: Input should be 'eager' or 'compiled'"),
        ({"tiers": []}, "tiers: List should have at least 1 item"),
        ({"workloads": 3}, "workloads: Input should be a valid list"),
    ],
)
def test_profile_errors_name_the_field_and_the_fix(data, message) -> None:
    with pytest.raises(DlarenaError, match=message):
        profile_from_dict(data, "p.yaml")


def test_a_missing_profile_file_points_to_the_examples(tmp_path) -> None:
    with pytest.raises(DlarenaError, match="see examples/"):
        load_profile(tmp_path / "nope.yaml")


def test_cost_model_recomputes_the_table_and_flags_the_managed_total() -> None:
    checked = {s.name: check(s) for s in PUBLISHED}
    assert checked["self-hosted PyTorch"].total == 2_660_000
    assert checked["self-hosted PyTorch"].follows
    assert checked["cloud PyTorch (AWS EC2)"].follows
    managed = checked["managed ML (SageMaker)"]
    assert managed.total == 2_885_000 and not managed.follows
    assert "off by $195,000" in managed.note
    assert Scenario("mine", 1, 2, 3).total(years=5) == 26


def test_every_combination_of_answers_gives_a_recommendation() -> None:
    for combo in itertools.product(*ANSWERS.values()):
        profile = Profile().with_answers(dict(zip(ANSWERS, combo, strict=True)))
        advice = advisor.advise(EVIDENCE, scorecard(EVIDENCE, Selection(()), profile, True))
        assert advice.recommendation in ("torch", "tensorflow", "jax")
        assert 0.0 <= advice.confidence <= 1.0
