"""Binary-weight layers (nbs/07_binary_weights.ipynb) where floating point decides a binary network's output: with
±1 inputs the ±1 convolution is an exact integer, often 0, and the scaled layers must keep such ties exactly 0 whatever
the memory layout or the recomputed alpha of an export."""
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
