import math

import pytest
import torch

from electra.models import Electra
from electra.train.distributed import load_optimizer_state, optimizer_state
from electra.train.optim import PINNED_STEP, build_adamw, load_state, param_groups, recipe_lr, set_lr, with_step_count


def test_schedule_warmup_and_decay_overlap():
    assert recipe_lr(0, 1.0, 10, 100) == 0.0
    assert math.isclose(recipe_lr(5, 1.0, 10, 100), 0.5 * 0.95)
    assert math.isclose(recipe_lr(50, 1.0, 10, 100), 0.5)
    assert recipe_lr(100, 1.0, 10, 100) == 0.0
    assert recipe_lr(3, 2.0, 0, 10) == 2.0 * 0.7


def test_no_decay_for_bias_and_layer_norm(tiny_electra_config):
    model = Electra(tiny_electra_config)
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("bias" in names[id(p)] or "norm" in names[id(p)] for p in no_decay["params"])
    assert any("word_embeddings" in names[id(p)] for p in decay["params"])
    # and every bias and LayerNorm parameter is exempt (a LayerNorm weight in the decayed group would pass above)
    exempt = {names[id(p)] for p in no_decay["params"]}
    norms = {f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, torch.nn.LayerNorm)}
    wanted = {n for n, _ in model.named_parameters() if n.endswith(".bias") or n in norms}
    assert wanted == exempt and norms & exempt
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))  # shared embeddings appear once


def _reference_steps(bias_correction: bool, fused: bool | None, capturable: bool = False):
    """torch's AdamW as built here against the update written out by hand, over 6 steps of changing lr."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    params = {n: p.detach().clone() for n, p in lin.named_parameters()}
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    opt = build_adamw(param_groups(lin, 0.01), bias_correction=bias_correction, fused=fused, capturable=capturable)
    for step in range(6):
        lr = 0.05 * (step + 1)
        x = torch.randn(8, 4)
        lin.zero_grad()
        lin(x).pow(2).sum().backward()
        grads = {n: p.grad.clone() for n, p in lin.named_parameters()}
        set_lr(opt, lr)
        opt.step()
        for n in params:
            g, t = grads[n], step + 1
            m[n] = 0.9 * m[n] + 0.1 * g
            v[n] = 0.999 * v[n] + 0.001 * g * g
            mh, vh = (m[n] / (1 - 0.9**t), v[n] / (1 - 0.999**t)) if bias_correction else (m[n], v[n])
            wd = 0.01 if n == "weight" else 0.0
            params[n] = params[n] - lr * (mh / (vh.sqrt() + 1e-6) + wd * params[n])
        for n, p in lin.named_parameters():
            torch.testing.assert_close(p.detach(), params[n], atol=2e-6, rtol=1e-5)
            p.data.copy_(params[n])  # keep both paths on the same trajectory
    return opt


@pytest.mark.parametrize(("fused", "capturable"), [(None, False), (True, False), (True, True)],
                         ids=["default", "fused", "fused-capturable"])  # fmt: skip
def test_adamw_without_bias_correction_matches_official_update(fused, capturable):
    """The capturable optimiser (a whole step in one CUDA graph) keeps lr, step and every factor of the update
    in tensors: still the official update, and the pinned counter still never moves."""
    opt = _reference_steps(bias_correction=False, fused=fused, capturable=capturable)
    assert all(g["capturable"] == capturable for g in opt.param_groups)
    assert {float(s["step"]) for s in opt.state.values()} == {PINNED_STEP}  # the counter never moves


def test_adamw_with_bias_correction_matches_textbook_update():
    opt = _reference_steps(bias_correction=True, fused=None)
    assert {float(s["step"]) for s in opt.state.values()} == {6.0}


def test_learning_rate_lives_in_tensors_scaled_per_group():
    lin = torch.nn.Linear(2, 2)
    groups = [{"params": [lin.weight], "lr_scale": 0.5}, {"params": [lin.bias]}]
    opt = build_adamw(groups)
    tensors = [g["lr"] for g in opt.param_groups]
    set_lr(opt, 0.1)
    assert [g["lr"] is t for g, t in zip(opt.param_groups, tensors, strict=True)] == [True, True]  # same tensors
    assert [float(g["lr"]) for g in opt.param_groups] == pytest.approx([0.05, 0.1])


def _stepped(model):
    opt = build_adamw(param_groups(model, 0.01))
    set_lr(opt, 1e-3)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    model.zero_grad(set_to_none=True)
    return opt


def test_optimizer_state_by_name_and_by_index_both_load(tiny_electra_config):
    """Checkpoints key the optimiser state by parameter name (any world size, DDP or FSDP, loads it), with
    the real step count; the index-keyed ``optimizer.state_dict()`` of older checkpoints still loads. Only
    per-parameter state is loaded: hyper-parameters stay the new run's."""
    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    opt = _stepped(model)
    by_name = with_step_count(optimizer_state(model, opt), 7, bias_correction=False)
    assert "discriminator.encoder.layers.0.attention.qkv.weight" in by_name["state"]
    assert {float(s["step"]) for s in by_name["state"].values()} == {7.0}
    by_index = opt.state_dict()
    by_index["param_groups"][0]["eps"] = 123.0  # a saved hyper-parameter must not win
    for saved in (by_name, by_index):
        fresh = build_adamw(param_groups(model, 0.01))
        load_state(fresh, lambda s=saved, f=fresh: load_optimizer_state(model, f, s))
        a, b = opt.state_dict(), fresh.state_dict()
        assert a["state"].keys() == b["state"].keys()
        for k in a["state"]:
            assert torch.equal(a["state"][k]["exp_avg_sq"], b["state"][k]["exp_avg_sq"])
            assert float(b["state"][k]["step"]) == PINNED_STEP
        assert [g["eps"] for g in fresh.param_groups] == [1e-6, 1e-6]
        assert all(isinstance(g["lr"], torch.Tensor) for g in fresh.param_groups)


def test_optimizer_state_of_separate_query_key_value_loads_fused(tiny_electra_config):
    """A name-keyed optimiser state saved before the fused projection (query / key / value moments apart)
    loads into the fused model: the moments are stacked like the weights."""
    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    opt = _stepped(model)
    state = optimizer_state(model, opt)
    legacy = {"state": {}, "param_groups": []}
    for name, s in state["state"].items():
        if ".qkv." not in name:
            legacy["state"][name] = s
            continue
        for i, part in enumerate(("query", "key", "value")):
            legacy["state"][name.replace("qkv", part)] = {k: v.chunk(3)[i] if v.dim() else v for k, v in s.items()}
    for g in state["param_groups"]:
        names = []
        for n in g["params"]:
            names += [n.replace("qkv", p) for p in ("query", "key", "value")] if ".qkv." in n else [n]
        legacy["param_groups"].append({**g, "params": names})
    fresh = build_adamw(param_groups(model, 0.01))
    load_state(fresh, lambda: load_optimizer_state(model, fresh, legacy))
    again = optimizer_state(model, fresh)
    for name, s in state["state"].items():
        assert torch.equal(again["state"][name]["exp_avg"], s["exp_avg"]), name
