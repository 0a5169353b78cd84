"`init_normalize_` (nbs/12_models.ipynb): what it promises on layered models (full-precision layers get std 1, mean 0 where biased; binary-weight latents untouched) and on SBN models (every binary layer's pre-activations mean 0, std 1)."
import pytest, torch
from torch import nn
from sbn_estimators.core import sample_states
from sbn_estimators.models import get_model, init_normalize_
from sbn_estimators.binary_weights import binary_weight_layers

torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared CPU

def _fp_outputs(model, x, seed):
    "Each full-precision conv/linear's output in a fresh eval forward of `x`; the binary units sample with `seed`."
    outs, binary = {}, set(binary_weight_layers(model).values())
    hs = [m.register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o)) for n, m in model.named_modules()
          if isinstance(m, (nn.Conv2d, nn.Linear)) and m not in binary]
    model.eval(); torch.manual_seed(seed)
    with torch.no_grad(): model(x)
    for h in hs: h.remove()
    model.train()
    return outs

@pytest.mark.parametrize('name,kw,shape', [('fmnist_bnn_conv', dict(width=8), (1, 28, 28)),
                                           ('resnet20', {}, (3, 32, 32)),                        # ReSTE binary weights
                                           ('fmnist_biper_conv', dict(width=8), (1, 28, 28))])   # BiPer binary weights
def test_layered_full_precision_normalised_binary_untouched(name, kw, shape):
    "After the init, a fresh forward (same samples) shows std 1 per channel for every FP conv/linear, mean 0 where biased; latents are bit-identical."
    torch.manual_seed(0)
    model = get_model(name, 'st', in_shape=shape, **kw)
    x = torch.rand(16, *shape)   # pixels in [0, 1]: the first conv's outputs have a mean far from 0
    latents = {n: m.weight.clone() for n, m in binary_weight_layers(model).items()}
    assert latents
    torch.manual_seed(1); init_normalize_(model, x)
    outs = _fp_outputs(model, x, seed=1)
    layers = dict(model.named_modules())
    assert len(outs) >= 2
    for n, out in outs.items():
        dims = [0, 2, 3] if out.ndim == 4 else [0]
        torch.testing.assert_close(out.std(dims), torch.ones(out.shape[1]), atol=1e-4, rtol=0, msg=f'{name} {n} std')
        if layers[n].bias is not None:
            torch.testing.assert_close(out.mean(dims), torch.zeros(out.shape[1]), atol=1e-4, rtol=0, msg=f'{name} {n} mean')
    for n, m in binary_weight_layers(model).items(): assert torch.equal(m.weight, latents[n]), n

def test_sbn_conv_every_binary_layer_mean_0_std_1():
    "On an SBN model each binary layer's pre-activations (with the same samples below them) have per-channel mean 0, std 1."
    torch.manual_seed(0)
    model, x = get_model('fmnist_sbn_conv', 'st'), torch.rand(16, 1, 28, 28)
    torch.manual_seed(1); init_normalize_(model, x)
    pre = []
    def act(a): pre.append(a); return sample_states(a, model.noise)
    torch.manual_seed(1)
    with torch.no_grad(): model(x, act)
    assert len(pre) == 4
    for a in pre:
        torch.testing.assert_close(a.mean((0, 2, 3)), torch.zeros(a.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(a.std((0, 2, 3)), torch.ones(a.shape[1]), atol=1e-4, rtol=0)


def test_a_constant_channel_keeps_its_scale():
    # a channel whose output is constant on the batch has std 0: dividing by a clamped 1e-8 blew its weights up 1e8-fold
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    with torch.no_grad(): net[0].weight[1] = 0
    w = net[0].weight.detach().clone()
    init_normalize_(net, torch.randn(8, 2, 6, 6))
    assert torch.equal(net[0].weight[1], w[1])
    out = net[0](torch.randn(8, 2, 6, 6))
    assert torch.isfinite(out).all() and out[:, 1].std() == 0
