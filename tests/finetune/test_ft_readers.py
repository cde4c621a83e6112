"""Readers: tables with configurable columns, CoNLL tag schemes, SQuAD JSON, Hugging Face datasets."""

from __future__ import annotations

import json

import pytest

from electra.core.errors import ElectraError
from electra.recipes.finetune import schemes
from electra.recipes.finetune.readers import read_conll, read_squad, read_text_examples
from electra.recipes.finetune.spec import TaskSpec
from electra.recipes.finetune.tasks import task_for


def test_glue_style_pair_columns_detected(tmp_path):
    f = tmp_path / "mrpc.tsv"
    f.write_text('sentence1\tsentence2\tlabel\nA "quoted" one\tB two\t1\nC\tD\t0\n')
    r = read_text_examples(f, TaskSpec("classification"))
    assert r.spec.text_column == "sentence1" and r.spec.text_pair_column == "sentence2"
    assert [(e.text, e.text_pair, e.label) for e in r.examples] == [
        ('A "quoted" one', "B two", "1"),
        ("C", "D", "0"),
    ]


def test_configurable_columns_csv_and_headerless_tsv(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('review,stars,id\n"good, really",4.5,1\nbad,1,2\n')
    r = read_text_examples(f, TaskSpec("regression", text_column="review", label_column="stars"), numeric_labels=True)
    assert [(e.text, e.label) for e in r.examples] == [("good, really", 4.5), ("bad", 1.0)]
    assert r.spec.text_pair_column == "none"
    g = tmp_path / "cola.tsv"
    g.write_text("src\t1\t\tgood sentence\nsrc\t0\t*\tbad sentence\n")
    r = read_text_examples(g, TaskSpec("classification", header=False, text_column="3", label_column="1"))
    assert [(e.text, e.label) for e in r.examples] == [("good sentence", "1"), ("bad sentence", "0")]


def test_jsonl_and_json(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": true}\n')
    r = read_text_examples(f, TaskSpec())
    assert [e.label for e in r.examples] == ["1", "true"]
    g = tmp_path / "d.json"
    g.write_text(json.dumps({"data": [{"sentence": "x", "label": "neg"}]}))
    assert read_text_examples(g, TaskSpec()).examples[0].text == "x"


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("text,label\n", TaskSpec(), "has no examples"),
        ("", TaskSpec(), "is empty"),
        ("sentence,target\nx,1\n", TaskSpec(), "missing label column 'label'"),
        ("words,label\nx,1\n", TaskSpec(), "no text column found"),
        ("text,label\nx,1\n", TaskSpec(text_pair_column="other"), "missing text-pair column 'other'"),
        ("text,label\nx,high\n", TaskSpec("regression"), "d.csv:2: regression label 'high' is not a number"),
        ("text,label\nx,\n", TaskSpec(), "d.csv:2: empty label"),
    ],
)
def test_table_errors_are_one_line_and_name_the_file(tmp_path, content, spec, message):
    f = tmp_path / "d.csv"
    f.write_text(content)
    with pytest.raises(ElectraError, match=message) as e:
        task_for(spec).read(str(f), True, None)
    assert "\n" not in str(e.value) and "d.csv" in str(e.value)


def test_unlabelled_table_allowed_for_prediction(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text\nhello\n")
    r = read_text_examples(f, TaskSpec(), require_labels=False)
    assert not r.labelled and r.examples[0].label is None


def _conll(tmp_path, body: str, name: str = "d.txt"):
    f = tmp_path / name
    f.write_text(body)
    return f


def test_conll_iob2_and_docstart(tmp_path):
    f = _conll(
        tmp_path,
        "-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\nGerman JJ B-MISC\n\n"
        "Peter NNP B-PER\nBlackburn NNP I-PER\n",
    )
    r = read_conll(f, TaskSpec("ner"))
    assert r.spec.tag_scheme == "iob2"
    assert [e.tokens for e in r.examples] == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert r.examples[1].tags == ["B-PER", "I-PER"]


def test_conll_iob1_converted(tmp_path):
    f = _conll(tmp_path, "Peter I-PER\nBlackburn I-PER\nand O\nJohn B-PER\nLondon I-LOC\n")
    r = read_conll(f, TaskSpec("ner"))
    assert r.spec.tag_scheme == "iob1"
    assert r.examples[0].tags == ["B-PER", "I-PER", "O", "B-PER", "B-LOC"]


def test_conll_bioes_converted_and_round_trips(tmp_path):
    f = _conll(tmp_path, "New B-LOC\nYork E-LOC\nis O\nBob S-PER\nA B-ORG\nB I-ORG\nC E-ORG\n")
    r = read_conll(f, TaskSpec("ner", token_column=0, tag_column=1))
    assert r.spec.tag_scheme == "bioes"
    iob2 = r.examples[0].tags
    assert iob2 == ["B-LOC", "I-LOC", "O", "B-PER", "B-ORG", "I-ORG", "I-ORG"]
    assert schemes.from_iob2(iob2, "bioes") == ["B-LOC", "E-LOC", "O", "S-PER", "B-ORG", "I-ORG", "E-ORG"]
    assert schemes.from_iob2(["B-PER", "B-PER", "I-PER"], "iob1") == ["I-PER", "B-PER", "I-PER"]


def test_conll_errors(tmp_path):
    with pytest.raises(ElectraError, match=r"d.txt:2: tag 'X-PER'"):
        read_conll(_conll(tmp_path, "a O\nb X-PER\n"), TaskSpec("ner"))
    with pytest.raises(ElectraError, match="expected a token and a tag column"):
        read_conll(_conll(tmp_path, "a\nb\n"), TaskSpec("ner"))
    with pytest.raises(ElectraError, match="no sentences"):
        read_conll(_conll(tmp_path, "-DOCSTART- O\n\n"), TaskSpec("ner"))
    r = read_conll(_conll(tmp_path, "a\nb\n"), TaskSpec("ner"), require_labels=False)
    assert r.examples[0].tags is None and not r.labelled


def _squad(tmp_path, qas, version="v2.0", context="Paris is in France."):
    f = tmp_path / "squad.json"
    f.write_text(
        json.dumps(
            {"version": version, "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
        )
    )
    return f


def test_squad_v1_and_v2(tmp_path):
    f = _squad(
        tmp_path,
        [{"id": "1", "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]}],
        version="1.1",
    )
    r = read_squad(f, TaskSpec("qa"))
    assert r.spec.squad_version == "1" and r.examples[0].answers == [("France", 12)]
    f = _squad(tmp_path, [{"id": "2", "question": "Who?", "answers": [], "is_impossible": True}])
    r = read_squad(f, TaskSpec("qa"))
    assert r.spec.squad_version == "2" and r.examples[0].is_impossible


def test_squad_offset_mismatch_and_other_errors(tmp_path):
    f = _squad(
        tmp_path, [{"id": "q7", "question": "Where?", "answers": [{"text": "France", "answer_start": 10}]}]
    )
    with pytest.raises(
        ElectraError, match=r"question q7: answer 'France' does not match the context at offset 10"
    ):
        read_squad(f, TaskSpec("qa"))
    f = _squad(
        tmp_path, [{"id": "a", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]}] * 2
    )
    with pytest.raises(ElectraError, match="appears twice"):
        read_squad(f, TaskSpec("qa"))
    f = _squad(tmp_path, [{"id": "a", "question": "?", "answers": []}], version="1.1")
    with pytest.raises(ElectraError, match="has no answers"):
        read_squad(f, TaskSpec("qa"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ElectraError, match="bad.json is not valid JSON"):
        task_for(TaskSpec("qa")).read(str(tmp_path / "bad.json"), True, None)


def test_huggingface_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"sentence": ["good", "bad"], "label": [1, 0]},
                features=datasets.Features(
                    {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
                ),
            )
        }
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    r = task_for(TaskSpec()).read(str(tmp_path / "ds"), True, "train")
    assert [(e.text, e.label) for e in r.examples] == [("good", "pos"), ("bad", "neg")]
    with pytest.raises(ElectraError, match="has no split 'validation'"):
        task_for(TaskSpec()).read(str(tmp_path / "ds"), True, "validation")


def test_huggingface_without_datasets_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_dict.json").write_text("{}")
    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ElectraError, match="needs the Hugging Face `datasets` package"):
        task_for(TaskSpec()).read(str(tmp_path / "ds"), True, None)
