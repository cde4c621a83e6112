"""Sub-word label alignment, sentence splitting, QA sliding windows, no-answer handling, batching."""

from __future__ import annotations

import numpy as np
import pytest

from electra.recipes.finetune.features import (
    IGNORE_INDEX,
    SpecialIds,
    char_span_to_tokens,
    collate,
    encode_qa_examples,
    encode_text_examples,
    encode_token_examples,
    length_grouped_batches,
    window_starts,
)
from electra.recipes.finetune.qa import postprocess_qa
from electra.recipes.finetune.spec import QAExample, TextExample, TokenExample


@pytest.fixture(scope="module")
def tok():
    from electra.data.tokenizer import train_wordpiece

    words = "the cat sat on a mat in paris with bob . where is it ? sits sitting".split()
    texts = [" ".join(words)] * 20 + ["unbelievable"] * 2
    return train_wordpiece(texts, vocab_size=60, min_frequency=1)


@pytest.fixture(scope="module")
def special(tok):
    from electra.data.tokenizer import special_token_ids

    return SpecialIds.from_dict(special_token_ids(tok))


def test_first_piece_gets_the_label_rest_ignored(tok, special):
    ex = TokenExample(["bob", "unbelievable", "paris"], ["B-PER", "O", "B-LOC"])
    pieces = [len(tok.encode(w, add_special_tokens=False).ids) for w in ex.tokens]
    assert pieces[1] > 1  # the middle word is split into several pieces
    labels = {"O": 0, "B-PER": 1, "B-LOC": 2}
    feats = encode_token_examples([ex], tok, special, 64, labels)
    ids, lab = feats.input_ids[0], feats.targets["labels"][0]
    assert ids[0] == special.cls and ids[-1] == special.sep
    expected = [IGNORE_INDEX]
    for word_label, n in zip([1, 0, 2], pieces, strict=True):
        expected += [word_label] + [IGNORE_INDEX] * (n - 1)
    assert lab == expected + [IGNORE_INDEX]
    assert len(ids) == len(lab) == sum(pieces) + 2
    assert feats.extra[0]["words"] == [(1, 0), (1 + pieces[0], 1), (1 + pieces[0] + pieces[1], 2)]


def test_long_sentence_split_at_word_boundaries_keeps_every_label(tok, special):
    words = ["bob", "unbelievable", "cat", "paris"] * 6
    tags = ["B-PER", "O", "O", "B-LOC"] * 6
    feats = encode_token_examples(
        [TokenExample(words, tags)], tok, special, 12, {"O": 0, "B-PER": 1, "B-LOC": 2}
    )
    assert len(feats) > 1 and all(len(x) <= 12 for x in feats.input_ids)
    covered = [w for extra in feats.extra for _, w in extra["words"]]
    assert covered == list(range(len(words)))  # each word exactly once, in order
    labelled = [lab for row in feats.targets["labels"] for lab in row if lab != IGNORE_INDEX]
    assert labelled == [{"O": 0, "B-PER": 1, "B-LOC": 2}[t] for t in tags]


def test_text_truncation_longest_first_and_counted(tok, special):
    long = " ".join(["cat"] * 50)
    feats = encode_text_examples(
        [TextExample(long, "bob sat", "x"), TextExample("a cat", None, "y")],
        tok,
        special,
        16,
        {"x": 0, "y": 1},
    )
    assert feats.n_truncated == 1
    assert len(feats.input_ids[0]) == 16
    types = feats.token_type_ids[0]
    assert types.count(1) == len(tok.encode("bob sat", add_special_tokens=False).ids) + 1  # pair kept whole
    assert feats.targets["labels"] == [0, 1]


def test_char_span_to_tokens():
    offsets = [(0, 3), (4, 7), (7, 9), (10, 12)]
    assert char_span_to_tokens(offsets, 4, 9) == (1, 2)
    assert char_span_to_tokens(offsets, 5, 8) == (1, 2)  # partial overlap widens to whole tokens
    assert char_span_to_tokens(offsets, 10, 12) == (3, 3)


def test_window_starts_follow_official_doc_stride():
    assert window_starts(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert window_starts(3, 4, 2) == [(0, 3)]


def _context_with_answer_at(n_before: int) -> tuple[str, int]:
    words = ["the", "cat", "sat", "on", "a", "mat"]
    before = " ".join(words[i % len(words)] for i in range(n_before))
    context = before + " in paris with bob . the cat sat on a mat ."
    return context, context.index("paris with bob")


@pytest.mark.parametrize("stride", [4, 9])  # with 9 the start token is best centred in the window that cuts
def test_answer_across_window_boundary_gets_the_right_span(tok, special, stride):  # the answer off
    context, start = _context_with_answer_at(9)
    ex = QAExample("q1", "where is it ?", context, [("paris with bob", start)])
    q_len = len(tok.encode(ex.question, add_special_tokens=False).ids)
    window = 12
    feats = encode_qa_examples([ex], tok, special, max_length=q_len + 3 + window, doc_stride=stride)
    ctx = tok.encode(context, add_special_tokens=False)
    first, last = char_span_to_tokens(ctx.offsets, start, start + len("paris with bob"))
    spans = window_starts(len(ctx.ids), window, stride)
    # the answer starts inside the first window but ends past it
    assert spans[0][0] <= first < spans[0][0] + spans[0][1] <= last
    assert feats.targets["start_positions"][0] == 0 and feats.targets["is_impossible"][0] == 1.0
    holding = [k for k, (s, n) in enumerate(spans) if s <= first and last < s + n]
    assert holding
    for k in range(len(feats)):
        s, e = feats.targets["start_positions"][k], feats.targets["end_positions"][k]
        if k in holding:
            prefix = q_len + 2
            assert (s, e) == (first - spans[k][0] + prefix, last - spans[k][0] + prefix)
            offsets = feats.extra[k]["offsets"]
            assert context[offsets[s][0] : offsets[e][1]] == "paris with bob"
        else:
            assert (s, e) == (0, 0)

    # post-processing with logits peaking on the gold span in the windows holding it returns the answer
    starts, ends = [], []
    for row in range(len(feats)):
        n = len(feats.input_ids[row])
        s_log, e_log = np.zeros(n), np.zeros(n)
        if row in holding:
            s_log[feats.targets["start_positions"][row]] = 5
            e_log[feats.targets["end_positions"][row]] = 5
        starts.append(s_log)
        ends.append(e_log)
    (pred,) = postprocess_qa([ex], feats, starts, ends)
    assert pred.text == "paris with bob" and pred.char_start == start


def test_no_answer_targets_cls_and_postprocess_returns_empty(tok, special):
    ex = QAExample("n1", "where is it ?", "the cat sat on a mat .", [], is_impossible=True)
    feats = encode_qa_examples([ex], tok, special, max_length=64)
    assert feats.targets["start_positions"] == [0] and feats.targets["end_positions"] == [0]
    assert feats.targets["is_impossible"] == [1.0]
    assert feats.targets["span_mask"][0][0] == 1  # [CLS] is allowed as the no-answer position
    n = len(feats.input_ids[0])
    s_log, e_log = np.zeros(n), np.zeros(n)
    s_log[-3], e_log[-2] = 3, 3
    (pred,) = postprocess_qa([ex], feats, [s_log], [e_log], answerable_logits=[2.0])
    assert pred.text == "" and pred.char_start == -1 and pred.null_logit == 2.0
    (pred,) = postprocess_qa([ex], feats, [s_log], [e_log], answerable_logits=[-2.0])
    assert pred.text != ""  # confident there is an answer: the best span is returned


def test_span_never_uses_question_tokens(tok, special):
    ex = QAExample("q", "where is paris ?", "bob sat on a mat .", [("bob", 0)])
    feats = encode_qa_examples([ex], tok, special, max_length=64)
    mask = feats.targets["span_mask"][0]
    n_question = len(tok.encode(ex.question, add_special_tokens=False).ids)
    assert mask[1 : 2 + n_question] == [0] * (n_question + 1)  # question and its [SEP]
    s_log = np.zeros(len(mask))
    s_log[2] = 10  # a question token: must be ignored
    (pred,) = postprocess_qa([ex], feats, [s_log], [np.zeros(len(mask))])
    assert pred.text in ex.context


def test_length_grouped_batches_and_dynamic_padding(tok, special):
    lengths = [3, 30, 4, 29, 5, 28, 6, 27]
    batches = length_grouped_batches(lengths, 2, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 2 for b in batches)  # similar lengths together
    assert batches == length_grouped_batches(lengths, 2, seed=0)
    feats = encode_text_examples(
        [TextExample("cat"), TextExample("the cat sat on a mat in paris")], tok, special, 32, None
    )
    batch = collate(feats, [0, 1], special.pad)
    assert batch["input_ids"].shape == (2, len(feats.input_ids[1]))
    assert batch["attention_mask"][0].sum() == len(feats.input_ids[0])
    assert (batch["input_ids"][0, len(feats.input_ids[0]) :] == special.pad).all()
