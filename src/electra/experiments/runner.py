"""Pretraining variants compared downstream at equal compute: the runner behind ``electra experiment``.

A spec (YAML) lists pretraining variants (``--section.key value`` overrides of one preset) and a budget for
each: a number of ``steps``, of ``flops`` (steps = budget / the step's FLOPs, see
:mod:`electra.recipes.pretrain.flops`) or of wall-clock ``minutes`` (steps = budget / the step time measured
in a short calibration run). Every variant is pretrained, then fine-tuned on each task over each seed, and a
randomly initialised control of the first variant's architecture is fine-tuned the same way. The results go
to ``results.md`` (median and range over seeds, pretraining FLOPs and wall time, hardware), ``results.json``
and ``results.png`` (downstream score against pretraining compute).

Resumable: each stage leaves a record when it completes (``plan.json``, ``pretrain.json``, each seed's
``summary.json``); started again, the runner skips what is recorded, resumes a pretraining run from its
newest checkpoint and redoes only an unfinished fine-tuning seed.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from electra.core import checkpoint as ckpt
from electra.core.atomic import write_text_atomic
from electra.core.config import apply
from electra.core.errors import ElectraError
from electra.core.files import read_yaml
from electra.core.runtime import hardware, resolve_device
from electra.recipes.finetune.config import build_finetune_config
from electra.recipes.finetune.run import finetune
from electra.recipes.pretrain.build import padded_vocab_size
from electra.recipes.pretrain.config import build_config
from electra.recipes.pretrain.flops import step_flops
from electra.recipes.pretrain.run import pretrain
from electra.train.metrics import read_metrics

CONTROL = "random-init"
BUDGET_KINDS = ("steps", "flops", "minutes")


@dataclass
class ExperimentSpec:
    """What to compare (see the module docstring); ``finetune`` holds :class:`FinetuneConfig` fields."""

    preset: str = "tiny"
    corpus: list[str] = field(default_factory=lambda: ["en-mix"])
    overrides: list[str] = field(default_factory=list)  # for every variant, before its own
    budget: dict[str, float] = field(default_factory=lambda: {"minutes": 10.0})
    variants: dict[str, list[str]] = field(default_factory=lambda: {"electra": [], "mlm": ["--objective.kind", "mlm"]})
    random_init: bool = True
    tasks: list[str] = field(default_factory=lambda: ["movie-reviews", "conll2003"])
    # tasks given as files: name -> {task: classification | ner | ..., train: PATH, dev: PATH, test: PATH}
    task_files: dict[str, dict[str, str]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    finetune: dict[str, Any] = field(default_factory=dict)
    calibration_steps: int = 6

    def validate(self, source: str) -> None:
        """One-line errors naming the spec file and key."""
        if len(self.budget) != 1 or next(iter(self.budget)) not in BUDGET_KINDS:
            raise ElectraError(f"{source}: budget must have exactly one of {', '.join(BUDGET_KINDS)}")
        if not next(iter(self.budget.values())) > 0:
            raise ElectraError(f"{source}: budget must be positive")
        if not self.variants:
            raise ElectraError(f"{source}: variants is empty")
        if CONTROL in self.variants:
            raise ElectraError(f"{source}: variants: {CONTROL!r} is the control's name; choose another")
        if not self.tasks or not self.seeds:
            raise ElectraError(f"{source}: tasks and seeds must not be empty")
        if self.calibration_steps < 3:
            raise ElectraError(f"{source}: calibration_steps must be at least 3")


def read_spec(path: Path) -> ExperimentSpec:
    """The spec in YAML file ``path``, checked (unknown keys and bad values are one-line errors)."""
    spec = ExperimentSpec()
    apply(spec, read_yaml(path), str(path))
    spec.validate(str(path))
    return spec


def _pretrain_config(spec: ExperimentSpec, variant: str, steps: int, out: Path):
    corpus = [a for c in spec.corpus for a in ("--data.corpus", c)]
    overrides = [*corpus, *spec.overrides, *spec.variants[variant], "--train.steps", str(steps),
                 "--train.output_dir", str(out), "--train.save_every", str(max(1, min(steps, 1000)))]  # fmt: skip
    return build_config(spec.preset, None, overrides)


def _seconds_per_step(spec: ExperimentSpec, variant: str, directory: Path, progress: bool) -> float:
    """Median step time of a short run (its first logged steps, which include warm-up, left out)."""
    shutil.rmtree(directory, ignore_errors=True)
    cfg = _pretrain_config(spec, variant, spec.calibration_steps, directory)
    cfg.train.log_every = 1
    pretrain(cfg, progress=progress)
    times = [r["step_time_s"] for r in read_metrics(directory / "metrics.jsonl") if "step_time_s" in r][2:]
    shutil.rmtree(directory, ignore_errors=True)
    if not times:
        raise ElectraError(f"calibration of variant {variant!r} logged no step times in {directory}")
    return statistics.median(times)


def plan_variant(spec: ExperimentSpec, variant: str, directory: Path, progress: bool) -> dict[str, Any]:
    """Steps and FLOPs per step of ``variant`` under the budget; computed once and kept in ``plan.json``."""
    path = directory / "plan.json"
    if path.is_file():
        return json.loads(path.read_text())
    kind, amount = next(iter(spec.budget.items()))
    cfg = _pretrain_config(spec, variant, 1, directory / "pretrain")
    flops = step_flops(cfg, padded_vocab_size(cfg.data.vocab_size))
    seconds = None
    if kind == "steps":
        steps = int(amount)
    elif kind == "flops":
        steps = int(amount // flops)
    else:
        seconds = _seconds_per_step(spec, variant, directory / "calibration", progress)
        steps = int(amount * 60 // seconds)
    if steps < 1:
        raise ElectraError(f"budget {kind} = {amount:g} is less than one step of variant {variant!r}")
    plan = {"variant": variant, "steps": steps, "flops_per_step": flops, "budget": {kind: amount},
            "calibrated_s_per_step": seconds}  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(plan, indent=2))
    return plan


def pretrain_variant(spec: ExperimentSpec, variant: str, directory: Path, progress: bool) -> dict[str, Any]:
    """Pretrain ``variant`` to its planned steps (resuming a stopped run); returns ``pretrain.json``."""
    record = directory / "pretrain.json"
    if record.is_file():
        return json.loads(record.read_text())
    plan = plan_variant(spec, variant, directory, progress)
    out = directory / "pretrain"
    cfg = _pretrain_config(spec, variant, plan["steps"], out)
    wall = directory / "pretrain-wall.json"  # the wall time of a stopped run counts when it is resumed
    earlier = json.loads(wall.read_text())["s"] if wall.is_file() else 0.0
    started = time.time()
    try:
        pretrain(cfg, resume=ckpt.latest_checkpoint(out) is not None, progress=progress)
    finally:
        write_text_atomic(wall, json.dumps({"s": earlier + time.time() - started}))
    done = {**plan, "checkpoint": str(ckpt.latest_checkpoint(out)), "flops": plan["steps"] * plan["flops_per_step"],
            "wall_s": round(json.loads(wall.read_text())["s"], 1),
            "hardware": hardware(resolve_device(cfg.train.device))}  # fmt: skip
    write_text_atomic(record, json.dumps(done, indent=2))
    return done


def _task_values(spec: ExperimentSpec, task: str) -> dict[str, Any]:
    """Fine-tuning settings that name ``task``: a catalogue dataset, or files from ``task_files``."""
    if task not in spec.task_files:
        return {"dataset": task}
    files = spec.task_files[task]
    return {"task": {"task": files.get("task", "classification")}, "train_file": files.get("train"),
            "dev_file": files.get("dev"), "test_file": files.get("test")}  # fmt: skip


def finetune_seed(spec: ExperimentSpec, model: str, task: str, seed: int, out: Path, random_init: bool,
                  progress: bool) -> dict[str, Any]:  # fmt: skip
    """One fine-tuning seed's ``summary.json`` (run unless it is already there)."""
    summary = out / "summary.json"
    if not summary.is_file():
        values = {**spec.finetune, "model": model, "seeds": [seed], "output_dir": str(out), "overwrite": True,
                  "random_init": random_init, "progress": progress, **_task_values(spec, task)}  # fmt: skip
        finetune(build_finetune_config(None, values))
    return json.loads(summary.read_text())


def _score(summary: dict[str, Any]) -> float:
    """The headline test metric of a one-seed summary (the dev metric where there is no test split)."""
    seed = summary["seeds"][0]
    metric = summary["metric"]
    return float(seed["test"].get(metric, seed["dev"].get(metric, float("nan"))))


def run_experiment(spec: ExperimentSpec, out: Path, progress: bool = True) -> dict[str, Any]:
    """Run (or complete) the whole experiment in ``out``; returns the results also written there."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "spec.json", json.dumps(asdict(spec), indent=2))
    rows: dict[str, dict[str, Any]] = {}
    for variant in spec.variants:
        pre = pretrain_variant(spec, variant, out / variant, progress)
        rows[variant] = {"flops": pre["flops"], "wall_s": pre["wall_s"], "steps": pre["steps"],
                         "hardware": pre["hardware"], "model": str(out / variant / "pretrain")}  # fmt: skip
    first = next(iter(spec.variants))
    if spec.random_init:
        rows[CONTROL] = {"flops": 0.0, "wall_s": 0.0, "steps": 0, "hardware": rows[first]["hardware"],
                         "model": rows[first]["model"]}  # fmt: skip
    for name, row in rows.items():
        row["scores"] = {}
        for task in spec.tasks:
            summaries = [finetune_seed(spec, row["model"], task, s, out / name / f"ft-{task}" / f"seed-{s}",
                                       name == CONTROL, progress) for s in spec.seeds]  # fmt: skip
            scores = [_score(s) for s in summaries]
            row["scores"][task] = {"metric": summaries[0]["metric"], "seeds": scores, "min": min(scores),
                                   "median": statistics.median(scores), "max": max(scores)}  # fmt: skip
    results = {"spec": asdict(spec), "rows": rows}
    write_text_atomic(out / "results.json", json.dumps(results, indent=2))
    write_text_atomic(out / "results.md", results_table(results))
    plot_results(results, out / "results.png")
    return results


def results_table(results: dict[str, Any]) -> str:
    """The Markdown table of ``results``: per variant the pretraining compute and each task's median
    [min, max] over seeds."""
    spec, rows = results["spec"], results["rows"]
    tasks = spec["tasks"]
    metrics = {t: next(iter(rows.values()))["scores"][t]["metric"] for t in tasks}
    head = ["variant", "pretraining PFLOPs", "steps", "wall min"] + [f"{t} {metrics[t]}" for t in tasks]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [name, f"{row['flops'] / 1e15:.3g}", str(row["steps"]), f"{row['wall_s'] / 60:.1f}"]
        for t in tasks:
            s = row["scores"][t]
            cells.append(f"{s['median']:.3f} [{s['min']:.3f}, {s['max']:.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    budget = ", ".join(f"{k} {v:g}" for k, v in spec["budget"].items())
    hw = next(iter(rows.values()))["hardware"]
    lines += ["", f"Preset {spec['preset']}, corpus {' + '.join(spec['corpus'])}, budget per variant: {budget}; "
              f"fine-tuning: median [min, max] over seeds {spec['seeds']} (test split); {hw}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_results(results: dict[str, Any], path: Path) -> Path:
    """One panel per task: each variant's median score (range as error bars) against pretraining FLOPs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, rows = results["spec"]["tasks"], results["rows"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for name, row in rows.items():
            s = row["scores"][task]
            x = row["flops"] / 1e15
            ax.errorbar([x], [s["median"]], yerr=[[s["median"] - s["min"]], [s["max"] - s["median"]]], fmt="o",
                        capsize=3, label=name)  # fmt: skip
        ax.set_xlabel("pretraining compute (PFLOPs)")
        ax.set_ylabel(f"{task} {next(iter(rows.values()))['scores'][task]['metric']}")
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
