"""Metric wiring against hand-computed values."""

from __future__ import annotations

import math

import pytest

from electra.recipes.finetune.metrics import (
    classification_metrics,
    entity_metrics,
    normalize_answer,
    regression_metrics,
    squad_metrics,
)


def test_classification_metrics_by_hand():
    gold = ["pos", "pos", "pos", "neg", "neg", "neg"]
    pred = ["pos", "pos", "neg", "neg", "neg", "pos"]
    m = classification_metrics(gold, pred, ["neg", "pos"])
    # TP=2 FP=1 FN=1 TN=2
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3, positive = "pos"
    assert m["mcc"] == pytest.approx((2 * 2 - 1 * 1) / math.sqrt(3 * 3 * 3 * 3))


def test_multiclass_f1_is_macro():
    m = classification_metrics(["a", "b", "c", "c"], ["a", "c", "c", "c"], ["a", "b", "c"])
    # per class F1: a 1, b 0, c 2*(2/3*1)/(2/3+1) = 0.8
    assert m["f1"] == pytest.approx((1 + 0 + 0.8) / 3)


def test_regression_metrics_by_hand():
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    # Spearman: ranks differ by swapping 2 and 3: 1 - 6*(1+1)/(4*15) = 0.8; Pearson equals it on ranks 1..4
    assert m["spearman"] == pytest.approx(0.8)
    assert m["pearson"] == pytest.approx(0.8)
    assert m["mse"] == pytest.approx(0.5)


def test_entity_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    m = entity_metrics(gold, pred)
    # gold entities 3, predicted 3, correct 2 (PER, ORG)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_entity_f1_boundary_error_counts_as_wrong():
    m = entity_metrics([["B-PER", "I-PER"]], [["B-PER", "B-PER"]])
    assert m["f1"] == 0.0


def test_squad_normalisation_and_scores():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple a day") == "apple day"
    m = squad_metrics([["Denver Broncos", "The Broncos"], ["in 1990"]], ["the broncos", "1990 yes"])
    # q1 exact after normalisation; q2: pred {1990, yes} vs gold {in, 1990}: P = R = 1/2 -> F1 1/2
    assert m["exact_match"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx((1 + 0.5) / 2)


def test_squad_v2_no_answer_scoring():
    m = squad_metrics([[], ["paris"], []], ["", "paris", "london"])
    assert m["exact_match"] == pytest.approx(2 / 3)
    assert m["no_answer_exact_match"] == pytest.approx(0.5)
    assert m["has_answer_f1"] == pytest.approx(1.0)
