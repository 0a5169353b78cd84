"""Binary-weight layers (nbs/07_binary_weights.ipynb) where floating point decides a binary network's output: with
±1 inputs the ±1 convolution is an exact integer, often 0, and the scaled layers must keep such ties exactly 0 whatever
the memory layout or the recomputed alpha of an export; and MirrorDescent's argument checks."""
import re
import pytest
import torch
import torch.nn.functional as F
from sbn_estimators.binary_weights import BinaryWeightConv2d, BinaryWeightLinear
from sbn_estimators.layers import binary_eval_mode, export_binary
from sbn_estimators.models import get_model
from sbn_estimators.straight_through import sign_pm


def det_logits(model, x):
    with torch.no_grad(), binary_eval_mode(model.eval(), 'det'): return model(x)


@pytest.mark.parametrize('seed', range(5))
def test_export_check_accepts_untrained_bnn(seed):
    # α·sign(w) folded into the weights gave ±1e-7 at ties, so 5 of 6 seeds were rejected as a wrong export
    torch.manual_seed(seed)
    model = get_model('fmnist_bnn_conv', 'st', in_shape=(1, 28, 28))
    export_binary(model, check_x=torch.rand(64, 1, 28, 28))


@pytest.mark.parametrize('scale', ['tensor', 'channel'])
def test_channels_last_keeps_deterministic_logits(scale):
    # the fold gave logit differences of 0.19-0.38 between memory layouts on the same untrained model
    torch.manual_seed(0)
    model = get_model('fmnist_bnn_conv', 'st', in_shape=(1, 28, 28))
    for m in model.modules():
        if isinstance(m, BinaryWeightConv2d): m.scale = scale
    x = torch.rand(64, 1, 28, 28)
    a = det_logits(model, x)
    b = det_logits(model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('scale', ['none', 'tensor', 'channel'])
@pytest.mark.parametrize('bias', [False, True])
def test_ties_are_exact_and_the_gradient_is_the_folded_one(scale, bias):
    torch.manual_seed(1)
    conv = BinaryWeightConv2d(16, 4, 3, bias=bias, scale=scale, dtype=torch.float64)
    x = sign_pm(torch.randn(8, 16, 5, 5, dtype=torch.float64))
    s, a = conv.signs_and_scale()
    sums = F.conv2d(x, s)
    assert (sums == 0).any()
    y = conv(x)
    b = 0 if conv.bias is None else conv.bias.detach().view(-1, 1, 1)
    ties = sums == 0
    assert torch.equal(y.detach()[ties], (b + torch.zeros_like(sums))[ties])   # a tie is exactly the bias
    # the backward into the latent weight, alpha included, is autograd's derivative of the folded form
    g = torch.randn_like(y)
    (y * g).sum().backward(); ours = conv.weight.grad.clone(); conv.weight.grad = None
    (F.conv2d(x, conv.binary_weight(), conv.bias) * g).sum().backward()
    torch.testing.assert_close(ours, conv.weight.grad, rtol=1e-12, atol=1e-12)


def test_linear_scales_the_last_dimension():
    torch.manual_seed(2)
    lin = BinaryWeightLinear(6, 3, scale='channel', dtype=torch.float64)
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(lin(x), F.linear(x, lin.binary_weight(), lin.bias))


def test_export_check_compares_outputs_not_only_classes(monkeypatch):
    "check_x compares the exported network's outputs, not only its predicted classes: an import that shifts every logit is caught."
    from torch import nn
    from sbn_estimators import layers
    torch.manual_seed(0)
    net, x = nn.Sequential(BinaryWeightLinear(6, 4), nn.Linear(4, 3)), torch.randn(8, 6)
    export_binary(net, check_x=x)                                    # the true export passes its check
    real = layers.import_binary
    def shifted(model, exported):                                    # same classes, other outputs
        model = real(model, exported)
        with torch.no_grad(): model[-1].bias.add_(0.01)
        return model
    monkeypatch.setattr(layers, 'import_binary', shifted)
    with pytest.raises(ValueError, match="deterministic predictions differ"): export_binary(net, check_x=x)


def test_mirror_descent_hyper_parameters():
    "Each bad value is a ValueError naming the argument (and the param group), what it got and what is valid."
    from torch import nn
    from sbn_estimators.binary_weights import MirrorDescent
    eta = nn.Parameter(torch.zeros(2))
    for kw, msg in ((dict(lr=float('inf')), 'lr must be a positive number, got inf'), (dict(lr='0.1'), "lr must be a positive number, got '0.1'"),
                    (dict(lr=True), 'lr must be a positive number, got True'),
                    (dict(lr=0.1, weight_decay=None), 'weight_decay must be a finite number >= 0, got None'),
                    (dict(lr=0.1, weight_decay=float('inf')), 'weight_decay must be a finite number >= 0, got inf'),
                    (dict(lr=0.1, clip=True), 'clip must be a positive number or None, got True'),
                    (dict(lr=0.1, clip='1'), "clip must be a positive number or None, got '1'")):
        with pytest.raises(ValueError, match=re.escape(msg)): MirrorDescent([eta], **kw)
    for g, msg in (({'clip': 0}, 'clip (param group 0) must be a positive number or None, got 0'), ({'lr': -1}, 'lr (param group 0) must be a positive number'),
                   ({'weight_decay': float('nan')}, 'weight_decay (param group 0)')):
        with pytest.raises(ValueError, match=re.escape(msg)): MirrorDescent([{'params': [eta], **g}], lr=0.1)
    opt = MirrorDescent([eta], lr=0.1)
    with pytest.raises(ValueError, match=re.escape('clip (param group 1)')): opt.add_param_group({'params': [nn.Parameter(torch.zeros(1))], 'clip': 0})
    assert len(opt.param_groups) == 1


def test_mirror_descent_takes_numpy_numbers_as_floats():
    import numpy as np
    from torch import nn
    from sbn_estimators.binary_weights import MirrorDescent, clip_latent_
    opt = MirrorDescent([nn.Parameter(torch.zeros(2))], lr=np.float32(0.5), weight_decay=np.int64(1), clip=np.float64(2))
    assert all(type(opt.param_groups[0][k]) is float for k in ('lr', 'weight_decay', 'clip'))
    lat = [torch.tensor([-3., 0.4, 2.])]
    clip_latent_(lat, np.float32(1)); assert torch.equal(lat[0], torch.tensor([-1., 0.4, 1.]))
    for bad in (True, '1', None):
        with pytest.raises(ValueError, match=re.escape(f"bound must be a positive number, got {bad!r}")): clip_latent_(lat, bad)


def test_mirror_descent_refuses_decay_that_flips_signs():
    "lr * weight_decay >= 1 multiplies the latents by 1 - lr * weight_decay <= 0 each step: refused, also per group."
    from torch import nn
    from sbn_estimators.binary_weights import MirrorDescent
    eta = nn.Parameter(torch.tensor([0.5, -3.]))
    with pytest.raises(ValueError, match=re.escape("lr * weight_decay must be below 1 (a step multiplies the latents by 1 - lr * weight_decay), got 1 * 3 = 3")):
        MirrorDescent([eta], lr=1., weight_decay=3.)
    with pytest.raises(ValueError, match=re.escape("lr * weight_decay (param group 0) must be below 1")): MirrorDescent([{'params': [eta], 'weight_decay': 10.}], lr=0.1)
    opt = MirrorDescent([eta], lr=0.5, weight_decay=1.5)   # lr * weight_decay = 0.75: the latents shrink, keeping their signs
    for _ in range(3): eta.grad = torch.zeros(2); opt.step()
    assert torch.equal(eta.detach(), torch.tensor([0.5, -3.]) * 0.25 ** 3)


def test_mirror_descent_refuses_real_valued_groups():
    "binary_param_groups(model) marks the real-valued parameters binary=False: MirrorDescent would clip them (a bias of 5 became 1), so it refuses them."
    from torch import nn
    from sbn_estimators.binary_weights import MirrorDescent, binary_weight_parameters
    from sbn_estimators.binary_optimizers import binary_param_groups
    m = nn.Sequential(BinaryWeightLinear(3, 2), nn.Linear(2, 1))
    with pytest.raises(ValueError, match=re.escape("MirrorDescent steps latent binary weights only, got a group with binary=False (param group 1); "
                                                   "pass binary_weight_parameters(model)")):
        MirrorDescent(binary_param_groups(m), lr=1e-3, clip=1.)
    MirrorDescent(binary_param_groups(m)[:1], lr=1e-3, clip=1.)   # the binary group alone, or the plain list, are taken
    MirrorDescent(binary_weight_parameters(m), lr=1e-3, clip=1.)


def test_zero_dim_tensor_hyper_parameters():
    "A 0-d tensor rate or bound is a number, as torch's optimizers take it."
    from sbn_estimators.binary_weights import BinaryWeightLinear, MirrorDescent, clip_latent_
    m = BinaryWeightLinear(3, 4)
    assert MirrorDescent(m.parameters(), lr=torch.tensor(0.1)).param_groups[0]['lr'] == pytest.approx(0.1)
    p = torch.full((2,), 3.)
    clip_latent_([p], torch.tensor(1.))
    assert p.tolist() == [1., 1.]
