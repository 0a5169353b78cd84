"Session 59 (N): callable losses without a gradient in eta (a 0-1 error, a detached loss), a loss that ignores the targets in `exact_loss`, an integer loss."
import itertools, math
import torch, pytest
import torch.nn.functional as F
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.exact import exact_loss
from sbn_estimators.estimators import estimator

err01 = lambda eta, y: (eta * y < 0).to(eta.dtype).sum(-1)           # no gradient in eta: a comparison
detached = lambda eta, y: F.softplus(-(eta.detach() * y)).sum(-1)   # no gradient in eta: detached

def _setup(loss, seed=0):
    torch.manual_seed(seed)
    net = SBNMLP([3, 3, 2, 3], loss=loss, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64); y = torch.randint(0, 2, (2, 3)).double() * 2 - 1
    return net, x, y

def _g(t): return torch.zeros_like(t) if t.grad is None else t.grad   # the head gets no gradient from a 0-1 loss: zero

def _exact_grad(net, x, y):
    params = [tuple(p.detach().clone().requires_grad_() for p in pr) for pr in net.layer_params()]
    exact_loss(net, x, y, params).backward()
    return torch.cat([_g(t).flatten() for pr in params for t in pr])

def _max_z(net, x, y, name, S, chunk=500):
    "Largest |z| over all parameters of the mean of S estimates against the exact gradient."
    g0, e, out = _exact_grad(net, x, y), estimator(name), []
    for _ in range(S // chunk):
        ps = net.sample_params(chunk)
        e.surrogate(net, x, y, ps).backward()
        out.append(torch.cat([_g(t).flatten(1) for pr in ps for t in pr], 1))
    v = torch.cat(out)
    sd = v.std(0)
    keep = sd > 0                                                      # a parameter with no estimate variance: compared exactly
    assert torch.allclose(v.mean(0)[~keep], g0[~keep], atol=1e-10)
    return ((v.mean(0) - g0)[keep] / (sd[keep] / math.sqrt(len(v)))).abs().max().item(), int(keep.sum())

@pytest.mark.parametrize('name', ['rebar', 'relax'])
@pytest.mark.parametrize('loss', [detached, err01], ids=['detached', 'err01'])
def test_rebar_relax_refuse_a_loss_without_gradient(name, loss):
    "Was: autograd's allow_unused zeroed the relaxed loss's pathwise term and kept its score term: |z| 11-25 against exact."
    net, x, y = _setup(loss)
    with pytest.raises(ValueError, match='differentiable in eta') as e:
        estimator(name).surrogate(net, x, y, net.sample_params(2)).backward()
    assert 'reinforce' in str(e.value) and 'disarm' in str(e.value)

@pytest.mark.parametrize('name', ['muprop', 'double_cv', 'rodeo'])
def test_taylor_estimators_run_on_a_01_loss_and_are_unbiased(name):
    "Was: a bare RuntimeError 'element 0 of tensors does not require grad'; now the Taylor term vanishes and the estimate stays unbiased."
    net, x, y = _setup(err01)
    z, m = _max_z(net, x, y, name, S=4000)
    bound = math.sqrt(2) * torch.special.erfinv(torch.tensor(1 - 1e-3 / m, dtype=torch.float64)).item()   # two-sided, 1e-3 familywise
    assert z < bound, (name, z, bound)

@pytest.mark.parametrize('name', ['st', 'mean_field', 'concrete'])
def test_local_estimators_refuse_a_loss_without_gradient(name):
    "Was: autograd's bare RuntimeError at backward()."
    net, x, y = _setup(err01)
    with pytest.raises(ValueError, match='differentiates the loss through eta') as e:
        estimator(name).surrogate(net, x, y, net.sample_params(2)).backward()
    assert 'reinforce' in str(e.value)

def _brute_force(net, x, y, params):
    "Expected loss, example by example, summing over every state of both binary layers."
    rows = []
    for i in range(len(x)):
        tot = 0.
        for h1 in itertools.product([-1., 1.], repeat=3):
            h1 = torch.tensor(h1, dtype=torch.float64)
            p1 = net.noise.log_cdf(h1 * net.layer(0, x[i:i + 1], params)[0]).sum().exp()
            for h2 in itertools.product([-1., 1.], repeat=2):
                h2 = torch.tensor(h2, dtype=torch.float64)
                p2 = net.noise.log_cdf(h2 * net.layer(1, h1[None], params)[0]).sum().exp()
                tot = tot + p1 * p2 * net.loss(net.head(h2[None], params), y[i:i + 1])[0]
        rows.append(tot)
    return torch.stack(rows)

def test_exact_with_a_loss_ignoring_the_targets():
    "Was: 'loss must return one value per example, shape [4, 2] ... got [4, 1]' at B = 2 (the loss of page 18)."
    net, x, y = _setup(lambda eta, y: eta.square().sum(-1))
    ps = [tuple(p.detach().clone().requires_grad_() for p in pr) for pr in net.layer_params()]
    qs = [tuple(p.detach().clone().requires_grad_() for p in pr) for pr in net.layer_params()]
    got, want = exact_loss(net, x, y, ps, reduction='none'), _brute_force(net, x, y, qs)
    torch.testing.assert_close(got, want)
    got.mean().backward(); want.mean().backward()
    for a, b in zip(ps, qs):
        for s, t in zip(a, b): torch.testing.assert_close(s.grad, t.grad)

def test_exact_still_refuses_a_loss_reduced_over_the_examples():
    net, x, y = _setup(lambda eta, y: (eta - y).square().sum(-1).sum(-1, keepdim=True))
    with pytest.raises(ValueError, match='one value per example'): exact_loss(net, x, y)

@pytest.mark.parametrize('name', ['exact', 'rebar', 'st', 'reinforce'])
def test_integer_loss_refused(name):
    "Was: bare torch errors ('mean(): could not infer output dtype ... Long') for rebar, relax and the local estimators."
    net, x, y = _setup(lambda eta, y: (eta * y < 0).long().sum(-1))
    with pytest.raises(ValueError, match=r'floating-point.*torch\.int64'):
        e = estimator(name)
        (e.surrogate(net, x, y) if name == 'exact' else e.surrogate(net, x, y, net.sample_params(2))).backward()
