"""Image sources (IDX from a real .deb, folders of PNGs, arrays), quantisation to pixel tokens, prepared shards."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from electra.core.errors import ElectraError
from electra.data import images as I
from electra.data.packages import Source
from electra.data.shards import TokenShards, derive_inputs

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, written independently of the reader: magic 0x0000 08 ndim, big-endian dims."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def test_idx_reader_and_its_errors():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert (I.read_idx(idx_bytes(images)) == images).all()
    assert (I.read_idx(idx_bytes(np.array([7, 1, 9]))) == [7, 1, 9]).all()
    with pytest.raises(ElectraError, match="not an IDX file"):
        I.read_idx(b"PK\x03\x04....")
    with pytest.raises(ElectraError, match=r"holds 23 bytes, its header says \[2, 3, 4\]"):
        I.read_idx(gzip.decompress(idx_bytes(images))[:-1])


@needs_dpkg
def test_fashion_mnist_from_a_real_deb_checked_and_cached(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    sets = {"train": (rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 10, 6)),
            "t10k": (rng.integers(0, 256, (3, 28, 28)), rng.integers(0, 10, 3))}  # fmt: skip
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: fake-fashion\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: T <t@example.org>\nDescription: tiny\n")  # fmt: skip
    members = {}
    for prefix, (x, y) in sets.items():
        for kind, array in (("images-idx3", x), ("labels-idx1", y)):
            path = f"{I._FASHION_DIR}{prefix}-{kind}-ubyte.gz"
            members[path] = idx_bytes(array)
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(members[path])
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = debs / "fake-fashion_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    monkeypatch.setenv("ELECTRA_DEB_DIR", str(debs))
    real = I.IMAGE_CATALOGUE["fashion-mnist"]
    digests = tuple((m, hashlib.sha256(members[m]).hexdigest()) for m, _ in real.members)
    entry = dataclasses.replace(real, source=Source("debian", "fake-fashion", "1.0"), members=digests)
    monkeypatch.setitem(I.IMAGE_CATALOGUE, "fashion-mnist", entry)

    train = I.read_images("fashion-mnist")
    assert (train.images == sets["train"][0]).all() and (train.labels == sets["train"][1]).all()
    assert train.class_names == I.FASHION_CLASSES and len(I.read_images("fashion-mnist", "test").images) == 3
    assert I.read_class_names("fashion-mnist") == I.FASHION_CLASSES  # without reading the images
    assert "cached" in I.describe_images()[0]

    wrong = dataclasses.replace(entry, members=((digests[0][0], "0" * 64), *digests[1:]))
    monkeypatch.setitem(I.IMAGE_CATALOGUE, "fashion-mnist", wrong)
    with pytest.raises(ElectraError, match=r"^dataset 'fashion-mnist': .*train-images-idx3-ubyte.gz from "
                       r"fake-fashion=1.0 has sha256 [0-9a-f]{64}, expected 0{64}$"):  # fmt: skip
        I.fetch_images("fashion-mnist")
    assert not I.image_cache_dir(wrong).exists()  # nothing half-written


def _png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def test_folder_labels_from_sub_folders_splits_and_errors(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for label in ("cat", "dog"):
            for i in range(n):
                _png(tmp_path / "pets" / split / label / f"{i}.png", np.full((8, 8), 40 if label == "cat" else 200))
    train = I.read_images(str(tmp_path / "pets"))
    assert train.class_names == ["cat", "dog"] and sorted(train.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert (train.images[train.labels == 1] == 200).all()
    assert I.read_class_names(str(tmp_path / "pets")) == ["cat", "dog"]
    assert len(I.read_images(str(tmp_path / "pets"), "test").images) == 2

    _png(tmp_path / "flat" / "a.png", np.zeros((8, 8)))
    _png(tmp_path / "flat" / "b.png", np.zeros((9, 8)))
    with pytest.raises(ElectraError, match=r"b.png is 8x9, the first was 8x8: images of one set must have one size"):
        I.read_images(str(tmp_path / "flat"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ElectraError, match=r"^cannot read image .*x.png"):
        I.read_images(str(tmp_path / "broken"))
    assert I.read_class_names(str(tmp_path / "broken")) == [] and I.read_class_names(str(tmp_path / "flat")) == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(ElectraError, match=r"empty: no PNG or JPEG files"):
        I.read_class_names(str(tmp_path / "empty"))
    with pytest.raises(ElectraError, match=r"image source not found: .*nowhere \(a path, or one of fashion-mnist"):
        I.read_images(str(tmp_path / "nowhere"))


def test_arrays_npy_npz_and_their_errors(tmp_path):
    x = np.random.default_rng(0).random((5, 6, 6))
    np.save(tmp_path / "a.npy", x)
    got = I.read_images(str(tmp_path / "a.npy"))
    assert got.images.dtype == np.uint8 and (got.images == np.round(x * 255)).all() and (got.labels == -1).all()
    np.savez(tmp_path / "b.npz", images=(x * 255).astype(np.uint8).reshape(5, 36), labels=[0, 1, 2, 1, 0])
    got = I.read_images(str(tmp_path / "b.npz"))
    assert got.images.shape == (5, 6, 6) and got.class_names == ["0", "1", "2"]
    assert I.read_class_names(str(tmp_path / "b.npz")) == ["0", "1", "2"]
    assert I.read_class_names(str(tmp_path / "a.npy")) == []
    np.savez(tmp_path / "named.npz", images=x, labels=[0, 1, 0, 1, 0], class_names=["sun", "rain"])
    assert I.read_class_names(str(tmp_path / "named.npz")) == I.read_images(str(tmp_path / "named.npz")).class_names
    np.savez(tmp_path / "c.npz", images=x, labels=[0, 1])
    with pytest.raises(ElectraError, match=r"c.npz: 5 images but 2 labels"):
        I.read_images(str(tmp_path / "c.npz"))
    np.save(tmp_path / "d.npy", x * 300)
    with pytest.raises(ElectraError, match=r"d.npy: pixel values must be uint8"):
        I.read_images(str(tmp_path / "d.npy"))
    with pytest.raises(ElectraError, match=r"a.npy is one array file: it has no test split"):
        I.read_images(str(tmp_path / "a.npy"), "test")


def test_quantise_resize_encode_decode():
    tokens = I.ImageTokens(size=2, levels=4, class_names=["a", "b"])
    assert (tokens.mask_id, tokens.pad_id, tokens.class_id(1), tokens.vocab_size, tokens.seq_length) == (4, 5, 7, 8, 5)
    image = np.array([[0, 0, 255, 255], [0, 0, 255, 255], [64, 64, 128, 128], [64, 64, 128, 128]], dtype=np.uint8)
    ids = tokens.encode(image[None], np.array([1]))
    assert ids.tolist() == [[7, 0, 3, 1, 2]]  # class token, then levels floor(v * 4 / 256) of the 2x2 area means
    assert tokens.decode(ids).tolist() == [[[32, 224], [96, 160]]]  # each level at its band's middle
    assert tokens.never_mask() == [4, 5, 6, 7]
    with pytest.raises(ElectraError, match="needs a label for every image"):
        tokens.encode(image[None], np.array([-1]))
    with pytest.raises(ElectraError, match="label 2 is beyond the model's 2 classes"):
        tokens.encode(image[None], np.array([2]))
    assert I.resize(np.zeros((1, 7, 7), np.uint8), 3).shape == (1, 3, 3)  # not a whole factor: bilinear


def test_prepared_image_shards_read_like_text_shards(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "set.npz", images=images, labels=rng.integers(0, 3, 10))
    tokens = I.ImageTokens(4, 8, ["0", "1", "2"])
    directory = I.prepare_image_shards(str(tmp_path / "set.npz"), tokens, tmp_path / "prepared")
    assert I.prepare_image_shards(str(tmp_path / "set.npz"), tokens, tmp_path / "prepared") == directory  # reused
    shards = TokenShards(directory)
    assert len(shards) == 10 and shards.max_seq_length == 17 and (shards.pad_id, shards.sep_id) == (9, -1)
    batch = derive_inputs(torch.from_numpy(shards[np.arange(4)].astype(np.int64)), shards.sep_id, shards.pad_id)
    assert bool(batch["attention_mask"].all()) and not bool(batch["token_type_ids"].any())
    assert (batch["input_ids"][:, 0] >= 10).all() and (batch["input_ids"][:, 1:] < 8).all()
    unlabelled = tmp_path / "u.npy"
    np.save(unlabelled, rng.integers(0, 256, (4, 8, 8)).astype(np.uint8))
    with pytest.raises(ElectraError, match=r"u.npy: some images have no label"):
        I.prepare_image_shards(str(unlabelled), tokens, tmp_path / "prepared")
