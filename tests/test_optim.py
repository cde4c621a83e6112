import math

import torch

from electra.models import Electra
from electra.train.optim import build_adamw, param_groups, recipe_lr, set_step_hyperparameters


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
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))  # shared embeddings appear once


def _reference_steps(bias_correction: bool):
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    params = {n: p.detach().clone() for n, p in lin.named_parameters()}
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    opt = build_adamw(lin, 0.01, fused=False)
    for step in range(6):
        lr = 0.05 * (step + 1)
        x = torch.randn(8, 4)
        lin.zero_grad()
        lin(x).pow(2).sum().backward()
        grads = {n: p.grad.clone() for n, p in lin.named_parameters()}
        set_step_hyperparameters(opt, lr, step, bias_correction)
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


def test_adamw_without_bias_correction_matches_official_update():
    _reference_steps(bias_correction=False)


def test_adamw_with_bias_correction_matches_textbook_update():
    _reference_steps(bias_correction=True)


def test_optimizer_state_by_name_and_by_index_both_load(tiny_electra_config):
    """Checkpoints key the optimiser state by parameter name (any world size, DDP or FSDP, loads it);
    the index-keyed ``optimizer.state_dict()`` of older checkpoints still loads."""
    from electra.train.distributed import load_optimizer_state, optimizer_state

    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    opt = build_adamw(model)
    for g in opt.param_groups:
        g["lr"] = 1e-3
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    by_name = optimizer_state(model, opt)
    model.zero_grad(set_to_none=True)  # as when a run resumes
    assert "discriminator.encoder.layers.0.attention.query.weight" in by_name["state"]
    for saved in (by_name, opt.state_dict()):
        fresh = build_adamw(model)
        load_optimizer_state(model, fresh, saved)
        a, b = opt.state_dict(), fresh.state_dict()
        assert a["state"].keys() == b["state"].keys()
        for k in a["state"]:
            assert torch.equal(a["state"][k]["exp_avg_sq"], b["state"][k]["exp_avg_sq"])
        assert [g["base_eps"] for g in b["param_groups"]] == [g["base_eps"] for g in a["param_groups"]]
