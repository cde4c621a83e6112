"""The whole step as one CUDA graph (``train.compile_mode graph``): the same losses and weights as eager steps.

On CPU the engine runs the step function the graph would capture (metric sums added in place, the learning
rate in tensors, a capturable optimiser); on CUDA the captured graph itself is compared with eager steps.
"""

import contextlib
import itertools

import pytest
import torch
from core_helpers import random_batch

from electra.core.errors import ElectraError
from electra.models import Electra
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection
from electra.recipes.pretrain.run import objective_forward
from electra.train.distributed import DistInfo
from electra.train.engine import Hook, Trainer
from electra.train.optim import build_adamw, param_groups, recipe_lr
from electra.train.parallel import Parallel, resolve_compile_mode
from electra.train.step_graph import StepGraph

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _objective(config, device):
    torch.manual_seed(0)
    model = Electra(config).to(device)
    objective = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, ObjectiveConfig())
    return model, objective.to(device)


def _batches(config, device, n: int = 3):
    """``n`` different batches of 4 x 24 with padding, cycled."""
    out = []
    for seed in range(n):
        ids, mask = random_batch(4, 24, config.discriminator.vocab_size, seed=seed, pad_from=[24, 20, 13, 24])
        out.append({"input_ids": ids.to(device), "attention_mask": mask.long().to(device),
                    "token_type_ids": torch.zeros_like(ids).to(device)})  # fmt: skip
    return ((0, i % n, b) for i, b in enumerate(itertools.cycle(out)))


class RecordLr(Hook):
    def __init__(self, optimizer):
        self.optimizer, self.seen = optimizer, []

    def after_step(self, trainer):
        self.seen.append([g["lr"].item() for g in self.optimizer.param_groups])


def _run(config, device, steps: int, step_graph: bool, compile: bool = False, log_at=(2,)):
    """Train ``steps`` steps from the same weights and random state; the logged metric windows, the final
    weights, the learning rates the optimiser's tensors held, and the engine."""
    model, objective = _objective(config, device)
    module = torch.compile(objective) if compile else objective
    optimizer = build_adamw(param_groups(model, 0.01), capturable=step_graph)
    for i, g in enumerate(optimizer.param_groups):
        g["lr_scale"] = 1.0 if i == 0 else 0.5
    record = RecordLr(optimizer)
    parallel = Parallel(module, model, compile_mode="graph" if step_graph else None)
    trainer = Trainer(model=model, parallel=parallel, forward=objective_forward, optimizer=optimizer,
                      schedule=lambda s: recipe_lr(s, 3e-3, 3, steps), total_steps=0, device=device,
                      hooks=[record])  # fmt: skip
    torch.manual_seed(123)
    if device.type == "cuda":
        torch.cuda.manual_seed(123)
    batches, windows, done = _batches(config, device), [], 0
    for stop in [*log_at, steps]:
        trainer.total_steps = stop
        trainer.fit(batches)
        windows.append(trainer.collect_metrics())
        done = stop
    assert done == steps
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    return windows, weights, record.seen, trainer


def _assert_same(a, b, rtol: float, atol: float):
    (wa, pa, _, _), (wb, pb, _, _) = a, b
    for x, y in zip(wa, wb, strict=True):
        assert x.keys() == y.keys()
        for key in ("loss", "mlm_loss", "disc_loss", "gen_acc", "disc_acc", "replaced_frac", "grad_norm"):
            assert x[key] == pytest.approx(y[key], rel=rtol, abs=atol), key
    for name in pa:
        torch.testing.assert_close(pa[name], pb[name], rtol=rtol, atol=atol, msg=name)


def test_the_capturable_step_gives_eager_losses_and_weights(tiny_electra_config):
    """Metric sums added in place across windows (zeroed at each log), a capturable fused AdamW: the step
    function a graph captures is exactly the eager step, and each logged window is the mean of its steps."""
    cpu = torch.device("cpu")
    eager = _run(tiny_electra_config, cpu, 6, step_graph=False, log_at=(2, 3))
    graph = _run(tiny_electra_config, cpu, 6, step_graph=True, log_at=(2, 3))
    assert isinstance(graph[3]._run, StepGraph) and not graph[3]._run.captures  # no CUDA: called directly
    _assert_same(eager, graph, rtol=0, atol=0)
    per_step = [w["loss"] for w in _run(tiny_electra_config, cpu, 6, step_graph=True, log_at=(1, 2, 3, 4, 5))[0]]
    windows = [w["loss"] for w in graph[0]]
    means = [sum(per_step[:2]) / 2, per_step[2], sum(per_step[3:]) / 3]
    assert windows == pytest.approx(means, rel=1e-4)
    before = dict(_objective(tiny_electra_config, cpu)[0].named_parameters())
    assert any(not torch.equal(before[n].detach(), w) for n, w in graph[1].items())  # the weights moved


def test_the_compiled_step_gives_eager_losses_and_weights_after_several_steps(tiny_electra_config, fallback_random):
    """``train.compile`` on CPU (``auto``: torch.compile's default mode) through the same engine: float
    tolerance of eager after 6 steps (inductor draws eager's random numbers with ``fallback_random``)."""
    cpu = torch.device("cpu")
    eager = _run(tiny_electra_config, cpu, 6, step_graph=False)
    compiled = _run(tiny_electra_config, cpu, 6, step_graph=True, compile=True)
    _assert_same(eager, compiled, rtol=1e-3, atol=1e-5)


def test_the_learning_rate_tensors_follow_the_schedule_exactly(tiny_electra_config):
    _, _, seen, _ = _run(tiny_electra_config, torch.device("cpu"), 6, step_graph=True)
    wanted = [[recipe_lr(s, 3e-3, 3, 6) * scale for scale in (1.0, 0.5)] for s in range(6)]
    as_float32 = [[torch.tensor(v, dtype=torch.float32).item() for v in row] for row in wanted]
    assert seen == as_float32
    assert seen[0] == [0.0, 0.0] and seen[3][0] == pytest.approx(1.5e-3)


def test_compile_mode_auto_and_graph_resolve_per_device():
    single, ranks = DistInfo(), DistInfo(rank=0, world_size=2)
    assert resolve_compile_mode("auto", torch.device("cuda", 0), single) == "graph"
    assert resolve_compile_mode("auto", torch.device("cpu"), single) == "default"
    assert resolve_compile_mode("auto", torch.device("cuda", 0), ranks) == "default"
    assert resolve_compile_mode("auto", torch.device("cuda", 0), single, recompute=True) == "default"
    assert resolve_compile_mode("reduce-overhead", torch.device("cuda", 0), ranks) == "reduce-overhead"
    with pytest.raises(ElectraError, match="with activation checkpointing use default"):
        resolve_compile_mode("graph", torch.device("cuda", 0), single, recompute=True)
    with pytest.raises(ElectraError, match=r"train.compile_mode graph .* on cpu use default"):
        resolve_compile_mode("graph", torch.device("cpu"), single)
    with pytest.raises(ElectraError, match="under torchrun"):
        resolve_compile_mode("graph", torch.device("cuda", 0), ranks)
    with pytest.raises(ElectraError, match="train.compile_mode must be one of auto, default"):
        resolve_compile_mode("fast", torch.device("cpu"), single)


cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@cuda_only
def test_the_captured_graph_gives_eager_losses_and_weights_on_cuda(tiny_electra_config):
    """Warm-up steps, the capture, then replays: within float tolerance of eager steps (the same random
    numbers: graphs draw from the default generator at its current offset), fp32 on the GPU."""
    cuda = torch.device("cuda")
    eager = _run(tiny_electra_config, cuda, 9, step_graph=False, log_at=(2, 5))
    graph = _run(tiny_electra_config, cuda, 9, step_graph=True, log_at=(2, 5))
    engine = graph[3]._run
    assert engine.failure is None and engine.graph is not None and engine.replays == 9 - engine.warmup
    _assert_same(eager, graph, rtol=1e-4, atol=1e-5)


@cuda_only
def test_the_compiled_and_captured_step_matches_compiled_steps_on_cuda(tiny_electra_config, fallback_random):
    cuda = torch.device("cuda")
    compiled = _run(tiny_electra_config, cuda, 8, step_graph=False, compile=True)
    graph = _run(tiny_electra_config, cuda, 8, step_graph=True, compile=True)
    assert graph[3]._run.replays == 8 - graph[3]._run.warmup
    _assert_same(compiled, graph, rtol=1e-4, atol=1e-5)


@cuda_only
def test_a_batch_of_another_shape_runs_eagerly_beside_the_graph():
    calls = []
    x = torch.zeros(3, device="cuda")
    graph = StepGraph(lambda b: (calls.append(b["v"].shape), x.add_(b["v"])), torch.device("cuda"), lambda: None,
                      warmup=1)  # fmt: skip
    for v in ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [2.0, 0.0, 0.0]):
        graph({"v": torch.tensor(v, device="cuda")})
    graph({"v": torch.ones(1, device="cuda")})  # another shape: called directly, broadcast into x
    torch.cuda.synchronize()
    assert graph.replays == 2 and len(calls) == 3  # warm-up, capture (python runs once), the odd batch
    assert x.tolist() == [5.0, 4.0, 5.0]


class _FakeCuda:
    """torch.cuda's stream and graph calls as StepGraph makes them, on CPU: a "capture" records the step (the
    step function below asks ``capturing``) and a replay runs what was recorded over the static tensors, as a
    CUDA graph replays its kernels over the same memory. ``fail`` makes the capture raise as an operation
    that cannot be captured does."""

    def __init__(self, fail: bool = False):
        self.fail, self.capturing, self.recorded = fail, False, None
        self.side_stream_calls = 0
        self.graph = self._graph

    @contextlib.contextmanager
    def _graph(self, graph, capture_error_mode="global"):
        assert capture_error_mode == "thread_local"
        self.capturing = True
        try:
            yield
        finally:
            self.capturing = False
        if self.fail:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")
        graph.replay = self.recorded

    @contextlib.contextmanager
    def stream(self, stream):
        self.side_stream_calls += 1
        yield

    def install(self, monkeypatch):
        class Stream:
            def __init__(self, device=None): ...
            def wait_stream(self, other): ...

        class Graph: ...

        fakes = {"graph": self.graph, "stream": self.stream, "Stream": Stream, "CUDAGraph": Graph,
                 "current_stream": lambda device=None: Stream(), "synchronize": lambda device=None: None}  # fmt: skip
        for name, value in fakes.items():
            monkeypatch.setattr(torch.cuda, name, value)

    def step_adding_into(self, total: torch.Tensor, calls: list):
        def step(batch):
            def run():
                calls.append(batch["v"].tolist())
                total.add_(batch["v"])

            if self.capturing:
                self.recorded = run  # captured: runs nothing now, reads batch's (static) tensors at each replay
            else:
                run()

        return step


def test_warm_up_then_one_capture_then_replays_of_each_new_batch(monkeypatch):
    """The engine's side of the graph, with torch.cuda's calls faked on CPU: ``warmup`` eager calls on a side
    stream, then one capture over copies of the batch, then each batch copied into them and replayed."""
    fake, total, calls = _FakeCuda(), torch.zeros(3), []
    fake.install(monkeypatch)
    graph = StepGraph(fake.step_adding_into(total, calls), torch.device("cuda"), lambda: None, warmup=2)
    batches = [torch.tensor(v) for v in ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [2.0, 2.0, 2.0], [0, 5.0, 0])]
    for v in batches:
        graph({"v": v})
    assert fake.side_stream_calls == 2 and graph.eager_calls == 2
    assert graph.replays == 3 and graph.static["v"] is not batches[2]  # the capture's own copy, replayed
    assert calls == [b.tolist() for b in batches]  # every replay saw the batch copied in
    assert total.tolist() == [3.0, 8.0, 3.0]
    graph({"v": torch.ones(1)})  # another shape: run directly (broadcast into the total), not replayed
    assert graph.replays == 3 and calls[-1] == [1.0] and total.tolist() == [4.0, 9.0, 4.0]


def test_a_step_that_cannot_be_captured_warns_resets_and_runs_eagerly_from_then_on(monkeypatch):
    fake, total, calls, resets = _FakeCuda(fail=True), torch.zeros(3), [], []
    fake.install(monkeypatch)
    graph = StepGraph(fake.step_adding_into(total, calls), torch.device("cuda"), lambda: resets.append(1), warmup=1)
    graph({"v": torch.ones(3)})
    with pytest.warns(UserWarning, match=r"could not be captured .*operation not permitted when stream is capturing\)"):
        graph({"v": torch.full((3,), 2.0)})  # the capture fails: reset, then this batch's step run eagerly
    graph({"v": torch.full((3,), 4.0)})
    assert resets == [1] and graph.failure.endswith("operation not permitted when stream is capturing")
    assert not graph.captures and graph.graph is None and graph.replays == 0
    assert total.tolist() == [7.0, 7.0, 7.0] and len(calls) == 3
