"""Reading user corpora: formats, directories, skipping bad files, sentence splitting."""

import gzip
import json

import pytest

from electra.core.errors import ElectraError
from electra.data.corpus import SkipReport, find_input_files, iter_documents, split_sentences


def test_blank_line_blocks_and_doc_per_line(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("First line.\nSecond line\n\n\n  \nOther doc\r\nwith CRLF\n\nLast", encoding="utf-8")
    assert list(iter_documents([f])) == ["First line.\nSecond line", "Other doc\nwith CRLF", "Last"]
    assert list(iter_documents([f], doc_per_line=True)) == [
        "First line.", "Second line", "Other doc", "with CRLF", "Last"]


def test_jsonl_gzip_and_directories(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "b.jsonl").write_text(
        json.dumps({"text": "json one", "id": 1}) + "\n\n" + json.dumps({"text": "json\ntwo"}) + "\n",
        encoding="utf-8")
    with gzip.open(root / "sub" / "c.txt.gz", "wt", encoding="utf-8") as f:
        f.write("gz doc one\n\ngz doc two\n")
    with gzip.open(root / "sub" / "d.json.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"body": "gz json"}) + "\n")
    (root / "a.md").write_text("markdown is text\n", encoding="utf-8")
    (root / ".secret.txt").write_text("hidden file\n", encoding="utf-8")
    (root / ".hidden" / "x.txt").write_text("hidden dir\n", encoding="utf-8")

    files = find_input_files([root])
    names = [p.relative_to(root).as_posix() for p in files]
    assert names == ["a.md", "b.jsonl", "sub/c.txt.gz", "sub/d.json.gz"]
    with pytest.raises(ElectraError, match="d.json.gz:1: missing field 'text'"):
        list(iter_documents(files))
    docs = list(iter_documents(files[:3]))
    assert docs == ["markdown is text", "json one", "json\ntwo", "gz doc one", "gz doc two"]
    assert list(iter_documents(files[3:], text_field="body")) == ["gz json"]
    # A file named explicitly is used, and naming it twice does not read it twice.
    assert find_input_files([root / "a.md", root, root / "a.md"])[0] == root / "a.md"
    assert len(find_input_files([root / "a.md", root])) == 4


def test_missing_paths_and_empty_directory(tmp_path):
    with pytest.raises(ElectraError, match="corpus path not found: .*nowhere"):
        find_input_files([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ElectraError, match="empty"):
        find_input_files([tmp_path / "empty"])


def test_binary_and_latin1_files_are_skipped_and_reported(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Héllo wörld\n\nsecond doc\n", encoding="utf-8")
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    latin1 = tmp_path / "old.txt"
    latin1.write_bytes(("caf\u00e9 " * 3000 + "\n").encode("latin-1"))
    late = tmp_path / "late.txt"  # valid documents first; the first bad byte comes after 26 KB
    late.write_bytes(b"plain ascii\n\n" * 2000 + "na\u00efve\n".encode("latin-1"))
    broken_gz = tmp_path / "broken.txt.gz"
    broken_gz.write_bytes(b"not gzip at all")
    report = SkipReport()
    docs = list(iter_documents([good, binary, latin1, late, broken_gz], report=report))
    assert docs == ["Héllo wörld", "second doc"]  # nothing at all from the late-failing file
    assert dict((p.name, r) for p, r in report.skipped) == {
        "model.bin": "binary", "old.txt": "not UTF-8 text", "late.txt": "not UTF-8 text",
        "broken.txt.gz": "not valid gzip"}
    summary = report.summary()
    assert summary.startswith("skipped 4 of 5 files")
    assert "\n" not in summary and "model.bin" in summary and "late.txt" in summary


def test_summary_with_one_reason():
    from pathlib import Path

    report = SkipReport(skipped=[(Path("x/a.bin"), "not UTF-8 text"), (Path("b.dat"), "not UTF-8 text")],
                        total_files=7)
    assert report.summary() == "skipped 2 of 7 files (not UTF-8 text): a.bin, b.dat"


def test_all_skipped_or_blank_corpus_is_an_error(tmp_path):
    binary = tmp_path / "a.bin"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ElectraError, match=r"corpus is empty: skipped 1 of 1 files \(binary\): a.bin"):
        list(iter_documents([binary]))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n", encoding="utf-8")
    empty_json = tmp_path / "e.jsonl"
    empty_json.write_text(json.dumps({"text": "   "}) + "\n", encoding="utf-8")
    with pytest.raises(ElectraError, match="corpus is empty: no text in .*blank.txt"):
        list(iter_documents([blank, empty_json]))


def test_jsonl_errors_name_file_line_and_field(tmp_path):
    f = tmp_path / "data.jsonl"
    records = [{"text": "ok"}, {"text": "fine"}, {"txt": "x"}]
    f.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    with pytest.raises(ElectraError, match=r"data\.jsonl:3: missing field 'text'"):
        list(iter_documents([f]))
    f.write_text(json.dumps({"text": "ok"}) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(ElectraError, match=r"data\.jsonl:2: invalid JSON"):
        list(iter_documents([f]))


def test_split_sentences():
    doc = ("Dr. smith arrived at 5 p.m. yesterday. He left! Did he? \"Yes,\" she said. "
           "Version 2.5 shipped. 3 bugs remain.\n\nÉmile wrote e.g. this.  Next line\nlast one")
    assert split_sentences(doc) == [
        "Dr. smith arrived at 5 p.m. yesterday.",
        "He left!",
        "Did he?",
        "\"Yes,\" she said.",
        "Version 2.5 shipped.",
        "3 bugs remain.",
        "Émile wrote e.g. this.",
        "Next line",
        "last one",
    ]
    assert split_sentences("He said \"Stop.\" Then he left.") == ["He said \"Stop.\"", "Then he left."]
    assert split_sentences("  \n\n ") == []
