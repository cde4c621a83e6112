"""The experiment runner on a micro budget: plan, pretrain, fine-tune, tabulate; resumable; bad specs refused."""

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "finetune"))
from ft_helpers import sentiment_rows, write_jsonl  # noqa: E402
from test_pretrain import MICRO, write_corpus  # noqa: E402

from electra.core.errors import ElectraError  # noqa: E402
from electra.experiments import runner as ex  # noqa: E402
from electra.recipes.pretrain.build import padded_vocab_size  # noqa: E402
from electra.recipes.pretrain.config import build_config  # noqa: E402
from electra.recipes.pretrain.flops import pretraining_flops, step_flops  # noqa: E402


def _spec(tmp_path: Path, **over) -> ex.ExperimentSpec:
    corpus = write_corpus(tmp_path / "corpus.txt", n_docs=40)
    files = {s: str(write_jsonl(tmp_path / f"{s}.jsonl", sentiment_rows(n, i)))
             for i, (s, n) in enumerate([("train", 48), ("dev", 16), ("test", 16)])}  # fmt: skip
    values = {"preset": "tiny", "corpus": [str(corpus)], "overrides": MICRO, "budget": {"steps": 3},
              "variants": {"electra": [], "mlm": ["--objective.kind", "mlm"]}, "tasks": ["toy"],
              "task_files": {"toy": {"task": "classification", **files}}, "seeds": [1, 2],
              "finetune": {"epochs": 1, "batch_size": 8}, **over}  # fmt: skip
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(values))
    return ex.read_spec(path)


def test_runner_tabulates_every_variant_and_the_control_and_resumes(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    out = tmp_path / "exp"
    calls = {"pretrain": 0, "finetune": 0}
    real_pretrain, real_finetune = ex.pretrain, ex.finetune

    def count_pretrain(*a, **k):
        calls["pretrain"] += 1
        return real_pretrain(*a, **k)

    def finetune_then_stop(cfg):
        calls["finetune"] += 1
        if calls["finetune"] == 4:
            raise KeyboardInterrupt  # stopped in the middle of the second variant's seeds
        return real_finetune(cfg)

    monkeypatch.setattr(ex, "pretrain", count_pretrain)
    monkeypatch.setattr(ex, "finetune", finetune_then_stop)
    with pytest.raises(KeyboardInterrupt):
        ex.run_experiment(spec, out, progress=False)
    assert calls == {"pretrain": 2, "finetune": 4}
    monkeypatch.setattr(ex, "finetune", lambda cfg: (calls.__setitem__("finetune", calls["finetune"] + 1),
                                                     real_finetune(cfg))[1])  # fmt: skip
    results = ex.run_experiment(spec, out, progress=False)
    # nothing pretrained again; only the interrupted seed and the ones after it fine-tuned: 6 in all, + 1 redone
    assert calls == {"pretrain": 2, "finetune": 7}
    rows = results["rows"]
    assert list(rows) == ["electra", "mlm", "random-init"]
    for name in ("electra", "mlm"):
        cfg = build_config("tiny", None, [*MICRO, "--data.corpus", "x", *spec.variants[name]])
        assert rows[name]["flops"] == pytest.approx(3 * step_flops(cfg, padded_vocab_size(cfg.data.vocab_size)))
        assert rows[name]["steps"] == 3 and (out / name / "pretrain" / "checkpoint-0000003").is_dir()
    assert rows["electra"]["flops"] > rows["mlm"]["flops"] > 0 == rows["random-init"]["flops"]
    scores = rows["random-init"]["scores"]["toy"]
    assert len(scores["seeds"]) == 2 and scores["min"] <= scores["median"] <= scores["max"]
    control = json.loads((out / "random-init" / "ft-toy" / "seed-1" / "summary.json").read_text())
    assert control["info"]["random_init"] is True
    table = (out / "results.md").read_text()
    assert sum(line.startswith("| ") for line in table.splitlines()) == 4 and "toy accuracy" in table  # head + 3
    assert (out / "results.png").stat().st_size > 1000


def test_budgets_in_flops_and_minutes(tmp_path):
    spec = _spec(tmp_path, budget={"flops": 1e9})
    plan = ex.plan_variant(spec, "electra", tmp_path / "a", progress=False)
    assert plan["steps"] == int(1e9 // plan["flops_per_step"]) >= 1
    assert ex.plan_variant(spec, "electra", tmp_path / "a", progress=False) == plan  # kept, not re-planned
    spec = _spec(tmp_path, budget={"minutes": 0.5})
    plan = ex.plan_variant(spec, "electra", tmp_path / "b", progress=False)
    assert plan["steps"] == int(30 // plan["calibrated_s_per_step"]) and plan["steps"] > 3
    assert not (tmp_path / "b" / "calibration").exists()  # the calibration run is not left behind


def test_flops_count_what_each_objective_runs(tiny_encoder_config):
    e = tiny_encoder_config
    electra, mlm = pretraining_flops("electra", e, 0.5, 8, 32), pretraining_flops("mlm", e, 0.5, 8, 32)
    replace = pretraining_flops("replace-mlm", e, 0.5, 8, 32)
    all_tokens = pretraining_flops("all-tokens-mlm", e, 0.5, 8, 32)
    assert mlm < electra and mlm < replace < all_tokens  # all-tokens runs the output layer at every position
    assert pretraining_flops("mlm", e, 0.5, 16, 32) == pytest.approx(2 * mlm)


@pytest.mark.parametrize(("change", "message"), [
    ({"budget": {"steps": 1, "minutes": 2}}, "exactly one of"),
    ({"budget": {"hours": 1}}, "exactly one of"),
    ({"variants": {"random-init": []}}, "control"),
    ({"seedz": [1]}, "unknown config key 'seedz'"),
])  # fmt: skip
def test_bad_specs_are_one_line_errors_naming_the_file(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", **change}))
    with pytest.raises(ElectraError, match=message) as e:
        ex.read_spec(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
