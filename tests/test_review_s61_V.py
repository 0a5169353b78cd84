"Review s61 (fix V): rebar, relax and rodeo differentiate a network whose weights are parametrized (torch.nn.utils.parametrize) as they do the plain one; `st` and `ugc` surrogates run under torch.func.vmap for per-sample gradients; a layer with module hooks, which an SBN never calls, is refused."
import pytest, torch
from torch import nn
from torch.nn.utils import parametrize
from sbn_estimators import estimator
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)


# 1. rebar, relax, rodeo: a parametrized weight (W = 2V) gets the plain network's gradient

class _Double(nn.Module):
    def forward(self, v): return 2 * v

def _nets():
    torch.manual_seed(0)
    plain = SBNMLP([3, 4, 4, 1])
    par = SBNMLP([3, 4, 4, 1]); par.load_state_dict(plain.state_dict())
    for l in par.layers:
        w = l.weight.detach().clone()
        parametrize.register_parametrization(l, 'weight', _Double())
        with torch.no_grad(): l.parametrizations.weight.original.copy_(w / 2)   # the same W = 2V as the plain net
    return plain, par

@pytest.mark.parametrize('name', ['rebar', 'relax', 'rodeo'])
def test_parametrized_weights_get_the_plain_gradient(name):
    plain, par = _nets()
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.where(torch.randn(6, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) > 0, 1., -1.).double()
    for net in (plain, par):
        torch.manual_seed(3); estimator(name).surrogate(net, x, y).backward()
    for lp, lq in zip(plain.layers, par.layers):
        assert lp.weight.grad.abs().max() > 0
        torch.testing.assert_close(lq.parametrizations.weight.original.grad, 2 * lp.weight.grad, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(lq.bias.grad, lp.bias.grad, rtol=1e-9, atol=1e-12)


# 2. st and ugc surrogates under torch.func.vmap: per-sample gradients equal a loop over the examples

@pytest.mark.parametrize('name', ['st', 'ugc'])
@pytest.mark.parametrize('loss', ['cross_entropy', 'logistic'])
def test_vmap_per_sample_gradients(name, loss):
    from torch.func import grad, vmap
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 2], loss=loss)
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (5,)) if loss == 'cross_entropy' else torch.where(torch.randn(5, 2) > 0, 1., -1.).double()
    P = [t.detach() for l in net.layers for t in (l.weight, l.bias)]
    e = estimator(name)
    f = lambda flat, xi, yi: e.surrogate(net, xi[None], yi[None], params=[(flat[0], flat[1]), (flat[2], flat[3])])
    torch.manual_seed(7); batched = vmap(grad(f), in_dims=(None, 0, 0), randomness='same')(P, x, y)
    for i in range(len(x)):
        torch.manual_seed(7); one = grad(f)(P, x[i], y[i])   # randomness='same': every example sees the same draw
        for b, o in zip(batched, one): torch.testing.assert_close(b[i], o, rtol=1e-12, atol=1e-14)


# 3. module hooks on an SBN's layers, which it never calls, are refused; a parametrization is not

def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 3, dtype=torch.float64, generator=g), torch.where(torch.randn(6, 1, generator=g) > 0, 1., -1.).double()

def test_pruned_layer_refused():
    import torch.nn.utils.prune as prune
    torch.manual_seed(0); net = SBNMLP([3, 4, 1]); x, y = _data()
    prune.l1_unstructured(net.layers[0], 'weight', amount=0.5)
    with pytest.raises(ValueError, match=r"layer 'layers.0' \(Linear\) of the SBN model SBNMLP carries module hooks"):
        estimator('st').surrogate(net, x, y)

@pytest.mark.parametrize('kind', ['forward', 'forward_pre', 'full_backward'])
def test_hooked_layer_refused(kind):
    torch.manual_seed(0); net = SBNMLP([3, 4, 1]); x, y = _data()
    h = getattr(net.layers[1], f'register_{kind}_hook')(lambda *a: None)
    with pytest.raises(ValueError, match=r"layer 'layers.1' \(Linear\).*never run.*a parametrization works"):
        estimator('psa').surrogate(net, x, y)
    h.remove(); estimator('psa').surrogate(net, x, y)   # without it: accepted

def test_weight_norm_and_hook_on_the_model_accepted():
    from torch.nn.utils.parametrizations import weight_norm
    torch.manual_seed(0); net = SBNMLP([3, 4, 1]); x, y = _data()
    for l in net.layers: weight_norm(l)
    net.register_forward_hook(lambda *a: None)   # the model itself: its forward is called, its hooks run
    torch.manual_seed(1); estimator('st').surrogate(net, x, y).backward()
    assert net.layers[0].parametrizations.weight.original1.grad.abs().max() > 0

@pytest.mark.parametrize('name', ['st', 'reinforce'])
def test_hooked_conv_layer_refused(name):
    from sbn_estimators.sbn_conv import SBNConvNet
    torch.manual_seed(0); net = SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 2)
    x, y = torch.randn(3, 1, 4, 4), torch.tensor([0, 1, 1])
    estimator(name).surrogate(net, x, y)
    net.layers[0].register_forward_hook(lambda *a: None)
    with pytest.raises(ValueError, match=r"layer 'layers.0' \(Conv2d\) of the SBN model SBNConvNet carries module hooks"):
        estimator(name).surrogate(net, x, y)


# 4. BiPer's forward reads its stage from the buffer: torch.func.functional_call with another stage's state runs that stage

def test_biper_functional_call_runs_the_stage_of_the_state():
    from torch.func import functional_call
    from sbn_estimators.models import get_model
    torch.manual_seed(0)
    m1 = get_model('fmnist_biper_conv:width=4,binarize=True', 'st', in_shape=(1, 28, 28), n_out=3).eval()
    m2 = get_model('fmnist_biper_conv:width=4,binarize=False', 'st', in_shape=(1, 28, 28), n_out=3).eval()
    x = torch.randn(2, 1, 28, 28)
    for a, b in ((m1, m2), (m2, m1)):
        torch.manual_seed(5); want = a(x)
        torch.manual_seed(5); got = functional_call(b, a.state_dict(), (x,))
        assert torch.equal(got, want)

@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_biper_weights_both_stages_exact(dtype):
    from sbn_estimators.biper import biper_weights, BiPer
    w = (torch.randn(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / 5).to(dtype).requires_grad_()
    s = torch.sin(20 * w.to(torch.promote_types(dtype, torch.float32)))
    for binarize, want in ((False, s), (True, torch.where(s >= 0, 1., -1.).to(s.dtype))):
        for out in (biper_weights(w, 20., binarize), BiPer(20., binarize)(w)):
            assert torch.equal(out, want.to(dtype))
            g, = torch.autograd.grad(out.sum(), w)   # the sine's derivative in both stages
            torch.testing.assert_close(g, (20 * torch.cos(20 * w.detach().to(s.dtype))).to(dtype))
