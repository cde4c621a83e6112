"""Image generation against the tutorials' GAN: a pair trained with ``electra pretrain --preset image-tiny`` and
sampled with each selection rule (random, confidence, critic), and the dense GAN that tutorials on ELECTRA build,
trained on the same images with the same batch; all scored the same way (FD in the hidden layer of a classifier
trained on real images, that classifier's accuracy on class-conditional samples, within-class diversity).
Prints a Markdown table and writes a PNG grid per row.

    electra pretrain --preset image-tiny -o runs/image-tiny                   # ~40 min on 2 cores
    python benchmarks/image_generation.py --run runs/image-tiny --out docs/img
    python benchmarks/image_generation.py --smoke                              # seconds: every row runs

The GAN (Goodfellow et al., 2014, as the tutorials write it): G maps 100-d Gaussian noise through fully connected
layers (256, 512, 1024, LeakyReLU 0.2) to the pixels (sigmoid); D maps pixels through 512 and 256 (LeakyReLU) to a
sigmoid; L_D = -sum log D(x) - sum log(1 - D(G(z))), L_G = -sum log D(G(z)), Adam at 1e-4, alternating steps. It
is a baseline of someone else's design, so it has its own loop here rather than a recipe on the engine.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra.core.runtime import hardware
from electra.data.images import ImageTokens, image_grid, read_images, save_png
from electra.generation.image_quality import ImageJudge
from electra.generation.images import image_labels, sample_images
from electra.models import Discriminator, MaskedLM, load_checkpoint
from electra.train.metrics import read_metrics

NOISE = 100


def dense_gan(pixels: int) -> tuple[nn.Module, nn.Module]:
    act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    g = nn.Sequential(nn.Linear(NOISE, 256), act(), nn.Linear(256, 512), act(), nn.Linear(512, 1024), act(),
                      nn.Linear(1024, pixels), nn.Sigmoid())  # fmt: skip
    d = nn.Sequential(nn.Linear(pixels, 512), act(), nn.Linear(512, 256), act(), nn.Linear(256, 1), nn.Sigmoid())
    return g, d


def train_gan(images: np.ndarray, steps: int, batch: int, seed: int = 0) -> tuple[nn.Module, float]:
    """The tutorials' GAN on uint8 images [N, S, S] for ``steps`` alternating steps; returns G and wall seconds."""
    torch.manual_seed(seed)
    x = torch.from_numpy(images.reshape(len(images), -1)).float() / 255.0
    g, d = dense_gan(x.shape[1])
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4)
    bce = nn.BCELoss(reduction="sum")
    start = time.perf_counter()
    for _ in range(steps):
        real = x[torch.randint(0, len(x), (batch,))]
        fake = g(torch.randn(batch, NOISE))
        loss_d = bce(d(real), torch.ones(batch, 1)) + bce(d(fake.detach()), torch.zeros(batch, 1))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake), torch.ones(batch, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return g.eval(), time.perf_counter() - start


@torch.no_grad()
def gan_samples(g: nn.Module, n: int, size: int, levels: int, seed: int = 1) -> np.ndarray:
    """GAN images, quantised to the pair's grey levels (so both are judged on the same kind of picture)."""
    torch.manual_seed(seed)
    pixels = (g(torch.randn(n, NOISE)) * 255).round().clamp(0, 255).to(torch.uint8).numpy().reshape(n, size, size)
    tokens = ImageTokens(size, levels)
    return tokens.decode(tokens.quantise(pixels).reshape(n, -1))


def as_seen(tokens: ImageTokens, images: np.ndarray) -> np.ndarray:
    """Real images as the pair sees them: resized and quantised, each level at its band's middle."""
    pixels = ImageTokens(tokens.size, tokens.levels)  # no class token
    return pixels.decode(pixels.quantise(images).reshape(len(images), -1))


def training_seconds(run: Path) -> float:
    rows = read_metrics(run / "metrics.jsonl")
    every = int(rows[1]["step"] - rows[0]["step"]) if len(rows) > 1 else 1
    return float(sum(r.get("step_time_s", 0.0) for r in rows) * every)


def smoke_run(tmp: Path) -> Path:
    """A pair trained for a few steps on a few random images (for --smoke)."""
    from electra.recipes.pretrain.config import build_config
    from electra.recipes.pretrain.run import pretrain

    rng = np.random.default_rng(0)
    np.savez(tmp / "set.npz", images=rng.integers(0, 256, (64, 8, 8)).astype(np.uint8), labels=np.arange(64) % 4)
    cfg = build_config("image-tiny", None, [
        "--data.corpus", f"[{tmp / 'set.npz'}]", "--data.image_size", "8", "--model.num_layers", "1",
        "--train.batch_size", "16", "--train.steps", "4", "--train.save_every", "4", "--train.log_every", "2",
        "--train.output_dir", str(tmp / "run"), "--data.num_workers", "0", "--train.tensorboard", "false"])  # fmt: skip
    pretrain(cfg, progress=False)
    return tmp / "run"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, help="an image pair's run directory (electra pretrain --preset image-tiny)")
    p.add_argument("--samples", type=int, default=1000, help="images per row (default 1000)")
    p.add_argument("--steps", type=int, default=12, help="refinement steps (default 12)")
    p.add_argument("--gan-steps", help="GAN steps, comma-separated for several rows, '' for none (default: the "
                   "pair's steps)")  # fmt: skip
    p.add_argument("--noise", default="1", help="selection noise of the confidence and critic rows, comma-separated "
                   "for several rows (default 1)")  # fmt: skip
    p.add_argument("--out", type=Path, help="folder for the PNG grids (e.g. docs/img)")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="electra-imgbench-"))
    run = smoke_run(tmp) if args.smoke else args.run
    if run is None:
        sys.exit("give --run DIR (or --smoke)")
    n = 40 if args.smoke else args.samples
    pre = load_checkpoint(run, pretrained=True)
    tokens = ImageTokens.from_dict(pre.meta["image_tokens"])
    cfg = pre.train_config
    corpus, batch, steps = cfg["data"]["corpus"][0], int(cfg["train"]["batch_size"]), int(cfg["train"]["steps"])
    train = read_images(corpus)
    test = read_images(corpus, "test") if not args.smoke else train
    real_train, real_test = as_seen(tokens, train.images), as_seen(tokens, test.images)
    t0 = time.perf_counter()
    judge = ImageJudge(real_train, train.labels, real_test, test.labels)
    took = time.perf_counter() - t0
    print(f"judge: MLP classifier, accuracy {judge.real_accuracy:.3f} on real test images ({took:.0f} s)")

    rows = []
    pick = np.random.default_rng(0).choice(len(real_train), min(n, len(real_train)), replace=False)
    real = judge.score(real_train[pick], train.labels[pick])
    rows.append(("real training images (reference)", real, "-", "-", real_train[pick], "real"))
    for gan_steps in [int(x) for x in (str(steps) if args.gan_steps is None else args.gan_steps).split(",") if x]:
        g, gan_s = train_gan(real_train, gan_steps, batch)
        fake = gan_samples(g, n, tokens.size, tokens.levels)
        rows.append((f"tutorials' dense GAN ({gan_steps} steps x {batch})", judge.score(fake, np.full(n, -1)),
                     f"{gan_s / 60:.1f} min", "-", fake, f"gan-{gan_steps}"))  # fmt: skip
    labels = image_labels(tokens, n, None)
    gen, critic = pre.as_class(MaskedLM), pre.as_class(Discriminator)
    pair_min = f"{training_seconds(run) / 60:.1f} min"
    noises = [float(x) for x in args.noise.split(",")]
    for rule, noise in [("random", 0.0)] + [(r, x) for r in ("confidence", "critic") for x in noises]:
        t0 = time.perf_counter()
        drawn = sample_images(gen, critic, tokens, labels, steps=args.steps, rule=rule, noise=noise, seed=0)
        took = f"{time.perf_counter() - t0:.0f} s"
        shown = f", noise {noise:g}" if rule != "random" else ""
        rows.append((f"generator + {rule} ({steps} steps x {batch}, {args.steps} refinement steps{shown})",
                     judge.score(drawn.images, labels), pair_min, took, drawn.images,
                     rule if rule == "random" else f"{rule}-noise{noise:g}"))  # fmt: skip

    print(f"\n{datetime.date.today()}, {hardware(torch.device('cpu'))}, torch {torch.__version__}; "
          f"{corpus} at {tokens.size}x{tokens.size}, {tokens.levels} grey levels, {n} samples per row\n")
    print("| row | FD (lower is better) | class accuracy | diversity | training | sampling |")
    print("|---|---|---|---|---|---|")
    for name, s, train_time, sample_time, *_ in rows:
        acc = f"{s.accuracy:.3f}" if s.accuracy is not None else "- (unconditional)"
        print(f"| {name} | {s.fd:.2f} | {acc} | {s.diversity:.2f} | {train_time} | {sample_time} |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for *_, images, slug in rows:
            save_png(image_grid(images[:100], columns=10), args.out / f"gen-{slug}.png", scale=2)
        print(f"\ngrids in {args.out}: " + ", ".join(f"gen-{row[-1]}.png" for row in rows))


if __name__ == "__main__":
    main()
