"""Pretraining transfers: what only the unlabelled corpus teaches reaches the fine-tuned classifier.

A positive control for the fine-tuning comparison of issue 4. Two classes of made-up words, 12 each;
every pretraining document uses words of one class only. The labelled task (which class a sentence's
words belong to) trains on 4 words per class and is evaluated on the other 8, which the labels never
show. A randomly initialised encoder cannot know their class (chance); an encoder pretrained with
ELECTRA on the corpus has put each class's words together and classifies them. A bug anywhere between
the pretraining objective, the checkpoint and the fine-tuning model's loading fails this test.
"""

import json
import random

from test_pretrain import MICRO

from electra.recipes.finetune import FinetuneConfig, TaskSpec, finetune
from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.config import build_config


def _made_up_words(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice("bcdfghjklmnpqrstvwz") + rng.choice("aeiou") for _ in range(3)))
    out = sorted(words)
    rng.shuffle(out)
    return out


def test_pretraining_teaches_what_the_labels_do_not(tmp_path):
    rng = random.Random(0)
    words = _made_up_words(54, rng)
    classes = {"a": words[:12], "b": words[12:24]}
    filler = words[24:]

    def sentence(pool: list[str], r: random.Random) -> str:
        ws = [r.choice(pool) for _ in range(r.randint(3, 6))] + [r.choice(filler) for _ in range(r.randint(2, 5))]
        r.shuffle(ws)
        return " ".join(ws)

    r = random.Random(1)
    docs = []
    for _ in range(600):
        pool = classes[r.choice("ab")]
        docs.append("\n".join(sentence(pool, r) + " ." for _ in range(6)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")

    def write_task(name: str, part: slice, seed: int) -> str:
        rr = random.Random(seed)
        rows = []
        for _ in range(200):
            label = rr.choice("ab")
            rows.append({"text": sentence(classes[label][part], rr), "label": label})
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return str(path)

    train = write_task("train", slice(0, 4), 2)  # the labels show 4 words per class ...
    dev, test = write_task("dev", slice(4, 12), 3), write_task("test", slice(4, 12), 4)  # ... and test the 8 others

    micro = list(MICRO)
    micro[micro.index("--data.vocab_size") + 1] = "700"  # every made-up word a whole token
    cfg = build_config("tiny", None, [
        *micro, "--data.corpus", str(corpus), "--train.output_dir", str(tmp_path / "pre"), "--train.steps", "2000",
        "--train.warmup_steps", "100", "--train.lr", "2e-3", "--train.batch_size", "32", "--train.log_every", "100",
        "--train.save_every", "2000",
    ])  # fmt: skip
    pretrain_mod.pretrain(cfg, progress=False)

    accuracy = {}
    for arm, random_init in (("pretrained", False), ("random", True)):
        summary = finetune(FinetuneConfig(
            model=str(tmp_path / "pre"), task=TaskSpec(task="classification"), train_file=train, dev_file=dev,
            test_file=test, output_dir=str(tmp_path / arm), lr=2e-3, epochs=5, batch_size=16, seeds=[1, 2, 3],
            progress=False, random_init=random_init,
        ))  # fmt: skip
        accuracy[arm] = summary.aggregate["test_accuracy"]["median"]
    # Medians of 3 fine-tuning seeds: one seed in three can fail to leave the constant prediction (0.48),
    # and after 1,000 pretraining steps the median varied with the thread count (0.65-0.92); after 2,000
    # it was 1.0 with 1 and 2 threads, random init 0.48-0.52.
    assert accuracy["random"] < 0.65, accuracy  # the unseen words' class is not in the labels: about chance
    assert accuracy["pretrained"] > 0.85, accuracy
