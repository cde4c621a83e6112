"""Text infilling with a pair pretrained by `electra pretrain` on a tiny corpus: the masked words are recovered
far above chance, given tokens never change, [MASK*n] spans expand, and `electra generate text` shows its steps."""

from __future__ import annotations

import random

import pytest
import torch

from electra.cli.main import main as cli_main
from electra.core.errors import ElectraError
from electra.data.tokenizer import special_token_ids
from electra.generation.infill import allowed_ids, expand_spans, infill, refine_text
from electra.generation.text import encode_batch
from electra.models import Discriminator, MaskedLM, load_checkpoint
from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.config import build_config

FOODS = {"cat": "fish", "dog": "bone", "cow": "grass", "bird": "seed", "bee": "honey", "fox": "hen", "owl": "mouse",
         "bear": "berry"}  # fmt: skip


def corpus(path, n_docs=300, seed=0):
    rng = random.Random(seed)
    animals = list(FOODS)
    docs = [" ".join(f"{a} eats {FOODS[a]}." for a in rng.choices(animals, k=5)) for _ in range(n_docs)]
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("infill")
    cfg = build_config("tiny", None, [
        "--data.corpus", str(corpus(tmp / "c.txt")), "--data.vocab_size", "120", "--data.max_seq_length", "32",
        "--model.hidden_size", "32", "--model.num_layers", "2", "--model.num_heads", "2",
        "--model.intermediate_size", "64", "--model.embedding_size", "32", "--model.max_position_embeddings", "32",
        "--model.generator_multiplier", "1.0", "--model.embedding_sharing", "separate", "--model.dropout", "0",
        "--model.attention_dropout", "0", "--train.batch_size", "16", "--train.steps", "800",
        "--train.warmup_steps", "30", "--train.bias_correction", "true", "--train.lr", "3e-3",
        "--train.save_every", "800", "--train.log_every", "50", "--train.output_dir", str(tmp / "run"),
        "--data.num_workers", "0", "--train.tensorboard", "false"])  # fmt: skip
    torch.manual_seed(0)
    pretrain_mod.pretrain(cfg, progress=False)
    return tmp / "run"


PROMPTS = [f"{a} eats [MASK]." for a in FOODS]


def recovered(texts: list[str]) -> float:
    return sum(f"{a} eats {f}" in t for t, (a, f) in zip(texts, FOODS.items(), strict=True)) / len(FOODS)


def test_masked_words_are_recovered_far_above_chance(pair):
    pre = load_checkpoint(pair, pretrained=True)
    gen, critic = pre.as_class(MaskedLM), pre.as_class(Discriminator)
    for rule, steps in (("critic", 4), ("confidence", 4), ("random", 1)):
        filled = infill(gen, critic, pre.tokenizer, PROMPTS, steps=steps, rule=rule, temperature=0.5)
        assert recovered([f.text for f in filled]) >= 0.5, (rule, [f.text for f in filled])  # chance: 1 / 8
    torch.manual_seed(1)  # an untrained pair that does not depend on what ran before
    untrained = type(pre.model)(pre.model.config).eval()
    filled = infill(untrained.generator, untrained.discriminator, pre.tokenizer, PROMPTS, temperature=0.5)
    assert recovered([f.text for f in filled]) <= 0.125


def test_given_tokens_never_change_and_spans_expand(pair):
    pre = load_checkpoint(pair, pretrained=True)
    gen, critic, tok = pre.as_class(MaskedLM), pre.as_class(Discriminator), pre.tokenizer
    special = special_token_ids(tok)
    texts = [expand_spans("[MASK*2] eats fish . cat [MASK] [MASK]."), "cow [MASK] grass."]
    assert texts[0].count("[MASK]") == 4
    _, inputs = encode_batch(tok, texts, 32, special["pad"])
    editable = inputs["input_ids"] == special["mask"]
    out = refine_text(gen, critic, inputs, editable, allowed_ids(tok, gen.config.vocab_size), special["mask"],
                      steps=6, seed=0).tokens  # fmt: skip
    assert torch.equal(out[~editable], inputs["input_ids"][~editable])
    assert not bool((out == special["mask"]).any()) and not bool(torch.isin(out[editable], torch.tensor(
        sorted(special.values()))).any())  # fmt: skip
    with pytest.raises(ElectraError, match=r"\[MASK\*0\]: a span holds 1 to 64 masks"):
        expand_spans("a [MASK*0] b")
    with pytest.raises(ElectraError, match="the text contains no \\[MASK\\] token"):
        infill(gen, critic, tok, ["the cow eats grass."])


def test_generate_text_cli_shows_each_step(pair, capsys):
    assert cli_main(["generate", "text", "dog eats [MASK].", "-c", str(pair), "--steps", "3", "--show-steps",
                     "--temperature", "0.5"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert [ln[:7] for ln in lines[:3]] == ["step  1", "step  2", "step  3"] and len(lines) == 4
    assert lines[-1].startswith("dog eats ") and "[MASK]" not in lines[-1] and lines[-1] != "dog eats."
    assert "[[" not in lines[2]  # nothing is rejected after the last step
