"""An image-token ELECTRA trained with `electra pretrain` on a few fixed patterns learns to draw them, with every
rule, where an untrained pair does not; `electra generate image` writes its PNGs and arrays; resume is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from electra.cli.main import main as cli_main
from electra.data.images import ImageTokens
from electra.generation.images import image_labels, sample_images
from electra.models import Discriminator, MaskedLM, load_checkpoint
from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.config import build_config

SIZE = 6


def patterns() -> np.ndarray:
    """Four 6x6 black-and-white patterns: horizontal stripes, vertical stripes, a checkerboard, a frame."""
    r, c = np.indices((SIZE, SIZE))
    frame = (r == 0) | (c == 0) | (r == SIZE - 1) | (c == SIZE - 1)
    return (np.stack([r % 2 == 0, c % 2 == 0, (r + c) % 2 == 0, frame]) * 255).astype(np.uint8)


def pattern_set(path, n=256):
    labels = np.arange(n) % 4
    np.savez(path, images=patterns()[labels], labels=labels)
    return path


def config(data, out, steps, *extra):
    return build_config("image-tiny", None, [
        "--data.corpus", f"[{data}]", "--data.image_size", str(SIZE), "--data.image_levels", "2",
        "--model.hidden_size", "32", "--model.num_layers", "2", "--model.num_heads", "2",
        "--model.intermediate_size", "64", "--model.embedding_size", "32", "--train.batch_size", "32",
        "--train.steps", str(steps), "--train.warmup_steps", "20", "--train.lr", "3e-3", "--train.log_every", "50",
        "--train.save_every", str(steps), "--train.output_dir", str(out), "--data.num_workers", "0",
        "--train.tensorboard", "false", *extra])  # fmt: skip


def pattern_error(images: np.ndarray, labels: np.ndarray) -> float:
    """Mean share of pixels that differ from the labelled pattern (images decoded from 2 levels: 64 / 192)."""
    return float(((images > 127) != (patterns()[labels] > 127)).mean())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image-pair")
    data = pattern_set(tmp / "patterns.npz")
    torch.manual_seed(0)
    pretrain_mod.pretrain(config(data, tmp / "run", 500), progress=False)
    return tmp / "run", data


def test_the_trained_pair_draws_the_patterns_an_untrained_one_does_not(trained):
    run, _ = trained
    pre = load_checkpoint(run, pretrained=True)
    tokens = ImageTokens.from_dict(pre.meta["image_tokens"])
    assert tokens.num_classes == 4 and pre.model.config.discriminator.grid_rows == SIZE
    labels = image_labels(tokens, 40, None)
    gen, critic = pre.as_class(MaskedLM), pre.as_class(Discriminator)
    for rule in ("critic", "confidence", "random"):
        drawn = sample_images(gen, critic, tokens, labels, steps=8, rule=rule, seed=0)
        assert pattern_error(drawn.images, labels) < 0.05, rule
    untrained = type(pre.model)(pre.model.config).eval()
    drawn = sample_images(untrained.generator, untrained.discriminator, tokens, labels, steps=8, seed=0)
    assert pattern_error(drawn.images, labels) > 0.3


def test_generate_image_cli_writes_the_grid_steps_and_arrays(trained, tmp_path, capsys):
    run, _ = trained
    out = tmp_path / "grid.png"
    code = cli_main(["generate", "image", "-c", str(run), "-n", "8", "--label", "2", "-o", str(out), "--show-steps",
                     "--save-npz", str(tmp_path / "s.npz"), "--steps", "6"])  # fmt: skip
    assert code == 0 and out.is_file() and (tmp_path / "grid-steps.png").is_file()
    with np.load(tmp_path / "s.npz") as saved:
        assert saved["images"].shape == (8, SIZE, SIZE) and (saved["labels"] == 2).all()
        assert pattern_error(saved["images"], saved["labels"]) < 0.05
    from PIL import Image

    with Image.open(tmp_path / "grid-steps.png") as steps:
        assert steps.mode == "RGB"
    capsys.readouterr()
    assert cli_main(["generate", "image", "-c", str(run), "--label", "7", "-o", str(out)]) == 2
    assert "label 7 is not one of the model's 4 classes (0 0, 1 1, 2 2, 3 3)" in capsys.readouterr().err
    assert cli_main(["generate", "text", "[MASK] .", "-c", str(run)]) == 2
    assert "use `electra generate image` for image models" in capsys.readouterr().err
    assert cli_main(["generate", "image", "-c", str(run), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "-o/--output must be a .png file" in capsys.readouterr().err


def test_image_resume_is_exact_and_a_second_corpus_is_refused(trained, tmp_path, monkeypatch, capsys):
    _, data = trained
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    pretrain_mod.pretrain(config(data, straight, 6, "--train.save_every", "3"), progress=False)
    real_save = pretrain_mod.save_training_checkpoint

    def save_then_die(trainer, *a, **k):
        path = real_save(trainer, *a, **k)
        if trainer.step == 3:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(pretrain_mod, "save_training_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(config(data, killed, 6, "--train.save_every", "3"), progress=False)
    monkeypatch.setattr(pretrain_mod, "save_training_checkpoint", real_save)
    pretrain_mod.pretrain(config(data, killed, 6, "--train.save_every", "3"), resume=True, progress=False)
    a = load_file(straight / "checkpoint-0000006" / "model.safetensors")
    b = load_file(killed / "checkpoint-0000006" / "model.safetensors")
    c = load_file(straight / "checkpoint-0000003" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a) and any(not torch.equal(a[k], c[k]) for k in a)
    assert cli_main(["pretrain", "--preset", "image-tiny", "--data.corpus", f"[{data}, {data}]",
                     "--train.output_dir", str(tmp_path / "two")]) == 2  # fmt: skip
    assert "data.corpus" in capsys.readouterr().err and not (tmp_path / "two").exists()
