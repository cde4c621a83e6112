"""Task metrics, computed by well-kept libraries: scikit-learn (accuracy, F1, Matthews correlation), SciPy
(Pearson, Spearman), seqeval (entity-level F1, conlleval rules) and the official SQuAD v1.1/v2.0 answer
normalisation for exact match and F1. All values are fractions in [0, 1] (correlations in [-1, 1])."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, float]:
    """Accuracy, F1 and Matthews correlation.

    F1 is binary with the second label of ``labels`` as positive when there are two labels (as GLUE's
    MRPC/QQP, with labels sorted so that "1", "positive", "true" come second), else macro-averaged.
    """
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    out = {"accuracy": float(accuracy_score(gold, pred)), "mcc": float(matthews_corrcoef(gold, pred))}
    if len(labels) == 2:
        out["f1"] = float(
            f1_score(gold, pred, pos_label=labels[1], average="binary", labels=list(labels), zero_division=0)
        )
    else:
        out["f1"] = float(f1_score(gold, pred, average="macro", labels=list(labels), zero_division=0))
    return out


def regression_metrics(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation (SciPy) and mean squared error."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    g, p = np.asarray(gold, dtype=float), np.asarray(pred, dtype=float)
    if len(g) < 2 or g.std() == 0 or p.std() == 0:  # correlations are undefined for constant inputs
        pearson = spearman = 0.0
    else:
        pearson, spearman = float(pearsonr(g, p)[0]), float(spearmanr(g, p)[0])
    return {"pearson": pearson, "spearman": spearman, "mse": float(((g - p) ** 2).mean())}


def entity_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (seqeval, conlleval-compatible default mode) on IOB2 tags,
    plus token accuracy."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    g, p = [list(s) for s in gold], [list(s) for s in pred]
    return {
        "f1": float(f1_score(g, p, zero_division=0)),
        "precision": float(precision_score(g, p, zero_division=0)),
        "recall": float(recall_score(g, p, zero_division=0)),
        "accuracy": float(accuracy_score(g, p)),
    }


# ---------------------------------------------------------------------------------------------- SQuAD


def normalize_answer(s: str) -> str:
    """The official SQuAD normalisation: lower case, drop punctuation and articles, squeeze white space."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_exact(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def squad_f1(gold: str, pred: str) -> float:
    """Token-overlap F1 of the official v2.0 script (an empty answer matches only an empty answer)."""
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if not g or not p:
        return float(g == p)
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(gold_answers: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """Exact match and F1, each the maximum over the gold answers; a question with no gold answer
    (SQuAD 2.0) counts the empty string as its answer. Adds HasAns/NoAns breakdowns when both occur."""
    em, f1, has = [], [], []
    for answers, pred in zip(gold_answers, predictions, strict=False):
        golds = [a for a in answers if normalize_answer(a)] or [""]
        em.append(max(squad_exact(a, pred) for a in golds))
        f1.append(max(squad_f1(a, pred) for a in golds))
        has.append(golds != [""])
    n = max(1, len(em))
    out = {"exact_match": sum(em) / n, "f1": sum(f1) / n}
    if any(has) and not all(has):
        for name, flag in (("has_answer", True), ("no_answer", False)):
            idx = [i for i, h in enumerate(has) if h == flag]
            out[f"{name}_exact_match"] = sum(em[i] for i in idx) / len(idx)
            out[f"{name}_f1"] = sum(f1[i] for i in idx) / len(idx)
    return out
