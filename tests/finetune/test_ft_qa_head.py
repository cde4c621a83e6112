"""The official ELECTRA QA head (``--qa-head official``): end logits conditioned on the start, a beam of
starts and ends at inference, answerability for every QA task."""

import json
import random

import pytest
import torch
import torch.nn.functional as F
from ft_helpers import NAMES, PLACES

from electra.models.heads import SpanHead
from electra.recipes.finetune import FinetuneConfig, TaskSpec, finetune
from electra.recipes.finetune.inference import predict
from electra.recipes.finetune.qa import best_joint_span


def _head(beam=3):
    torch.manual_seed(0)
    return SpanHead(8, answerability=True, joint=True, beam=beam, end_hidden=16).eval()


def test_end_logits_are_conditioned_on_the_start():
    head = _head()
    hidden, keep = torch.randn(2, 7, 8), torch.ones(2, 7, dtype=torch.bool)
    keep[1, 5:] = False
    a = head(hidden, keep, torch.tensor([1, 2]))["end_logits"]
    b = head(hidden, keep, torch.tensor([3, 2]))["end_logits"]
    assert not torch.allclose(a[0], b[0]) and torch.equal(a[1], b[1])  # row 0's start moved, row 1's did not
    feats = torch.cat([hidden[0, 1].expand(7, -1), hidden[0]], -1)  # [h_start; h_end] at every position
    expected = head.end_out(F.gelu(head.end_dense(feats))).squeeze(-1)
    torch.testing.assert_close(a[0], expected)
    assert (a[1, 5:] < -1e3).all()  # masked positions


def test_inference_beam_is_top_k_starts_then_top_k_ends_per_start():
    head = _head(beam=3)
    hidden, keep = torch.randn(2, 7, 8), torch.ones(2, 7, dtype=torch.bool)
    out = head(hidden, keep)
    start_lp = out["start_logits"].log_softmax(-1)
    top = start_lp.topk(3, -1)
    assert torch.equal(out["start_top_index"], top.indices)
    torch.testing.assert_close(out["start_top_log_probs"], top.values)
    for j in range(3):
        end_lp = head(hidden, keep, out["start_top_index"][:, j])["end_logits"].log_softmax(-1).topk(3, -1)
        assert torch.equal(out["end_top_index"][:, j], end_lp.indices)
        torch.testing.assert_close(out["end_top_log_probs"][:, j], end_lp.values)
    assert out["answerable_logit"].shape == (2,)


def test_joint_span_scoring_sums_log_probs_and_obeys_the_rules():
    offsets = [None, (0, 3), (4, 7), (8, 11), None]
    start_lp, start_i = [-0.1, -1.0], [3, 1]
    end_lp, end_i = [[-0.1, -0.2], [-0.5, -3.0]], [[1, 3], [2, 4]]
    # start 3 with end 1 is backwards, start 3 / end 3 scores -0.3, start 1 / end 2 scores -1.5
    assert best_joint_span(start_lp, start_i, end_lp, end_i, offsets) == pytest.approx((-0.3, 3, 3))
    assert best_joint_span(start_lp, start_i, end_lp, end_i, offsets, accept=lambda s, e: s == 1)[1:] == (1, 2)
    assert best_joint_span(start_lp, start_i, end_lp, end_i, offsets, max_answer_length=0) is None


def _squad(path, version, n=120):
    rng = random.Random(0)
    data = []
    for i in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        context = f"the film is long . {name} lives in {place} . the music is good ."
        qas = [{"id": f"q{i}", "question": f"where {name} lives ?",
                "answers": [{"text": place, "answer_start": context.index(f" in {place}") + 4}]}]  # fmt: skip
        if version == "v2.0" and i % 4 == 0:
            qas.append({"id": f"n{i}", "question": "who is boring ?", "answers": [], "is_impossible": True})
        data.append({"title": "t", "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps({"version": version, "data": data}))
    return path


@pytest.mark.parametrize("version", ["v1.1", "v2.0"])
def test_official_head_learns_the_task_and_reloads(tiny_checkpoint, tmp_path, version):
    squad = _squad(tmp_path / "train.json", version)
    summary = finetune(FinetuneConfig(model=str(tiny_checkpoint), task=TaskSpec(task="qa"), train_file=str(squad),
                                      dev_file=str(squad), output_dir=str(tmp_path / "qa"), lr=3e-3, epochs=4,
                                      batch_size=16, max_length=32, doc_stride=8, qa_head="official",
                                      progress=False))  # fmt: skip
    dev = summary.seeds[0].dev
    assert dev["has_answer_f1" if version == "v2.0" else "f1"] > 0.9, dev
    meta = json.loads(next((tmp_path / "qa" / "seed-1").glob("checkpoint-*/config.json")).read_text())
    head = meta["model_config"]
    assert head["joint_span"] is True and head["answerability"] is True  # answerability for v1.1 as well
    out = tmp_path / "pred.jsonl"
    rows = predict(tmp_path / "qa" / "seed-1", str(squad), out, device="cpu")
    if version == "v1.1":
        assert all(r["prediction"] for r in rows)  # SQuAD 1.1 always answers
    assert sum(r["prediction"] == "" for r in rows) <= 0.3 * len(rows)
