"""Property-based test of the public boundary (hypothesis): a batch with random shapes, dtypes, label sets and
non-finite values gives either the same result as the well-formed batch it came from or a ValueError, never a
silent broadcast and never a raw torch error. Examples are derandomized, so the test is deterministic."""
import math
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck
from sbn_estimators import estimator
from sbn_estimators.sbn import SBNMLP

N_IN = 3  # not a batch size the strategy draws for a transposed input (a square batch transposed is undetectable)
CFG = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def make_net(loss, dtype):
    torch.manual_seed(0)
    net = SBNMLP([N_IN, 3, 2, 1] if loss == 'logistic' else [N_IN, 3, 2, 3], loss=loss, dtype=dtype)
    with torch.no_grad():
        for p in net.parameters(): p.mul_(2)
    return net

NETS = {(l, d): make_net(l, d) for l in ('logistic', 'cross_entropy') for d in (torch.float32, torch.float64)}


def well_formed(loss, dtype, B, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N_IN, generator=g, dtype=dtype)
    y = ((torch.randint(0, 2, (B, 1), generator=g) * 2 - 1).to(dtype) if loss == 'logistic'
         else torch.randint(0, 3, (B,), generator=g))
    return x, y


def with_nonfinite(t, data):
    t = t.to(torch.promote_types(t.dtype, torch.float32)).clone()
    t.view(-1)[data.draw(st.integers(0, t.numel() - 1))] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return t

DTYPES = [torch.float16, torch.float32, torch.float64, torch.int8, torch.int32, torch.int64, torch.uint8, torch.bool]

CORRUPTIONS = {  # name: (x, y, data) -> (x', y')
    'none': lambda x, y, d: (x, y),
    'x transposed': lambda x, y, d: (x.T, y),
    'x one example': lambda x, y, d: (x[0], y[:1]),
    'x extra dimension': lambda x, y, d: (x[None], y),
    'x wrong width': lambda x, y, d: (torch.cat([x, x[:, :d.draw(st.integers(1, 2))]], 1), y),
    'x narrow': lambda x, y, d: (x[:, :d.draw(st.integers(1, N_IN - 1))], y),
    'x dtype': lambda x, y, d: (x.to(d.draw(st.sampled_from(DTYPES))), y),
    'x non-finite': lambda x, y, d: (with_nonfinite(x, d), y),
    'x numpy': lambda x, y, d: (x.numpy(), y),
    'empty batch': lambda x, y, d: (x[:0], y[:0]),
    'y squeezed': lambda x, y, d: (x, y.squeeze(-1)),
    'y extra dimension': lambda x, y, d: (x, y[..., None]),
    'y fewer rows': lambda x, y, d: (x, y[:-1]),
    'y more rows': lambda x, y, d: (x, torch.cat([y, y[:1]])),
    'y {0,1} labels': lambda x, y, d: (x, (y + 1) / 2 if y.is_floating_point() else torch.nn.functional.one_hot(y, 3).to(x.dtype)),
    'y dtype': lambda x, y, d: (x, y.to(d.draw(st.sampled_from(DTYPES)))),
    'y shifted': lambda x, y, d: (x, y + d.draw(st.sampled_from([-1, 1] if y.is_floating_point() else [-3, 3]))),  # always invalid
    'y scaled': lambda x, y, d: (x, y * d.draw(st.sampled_from([0, 0.5, 2])) if y.is_floating_point() else y * 0.5),
    'y non-finite': lambda x, y, d: (x, with_nonfinite(y, d)),
    'y numpy': lambda x, y, d: (x, y.numpy()),
}


def batch(data):
    "A well-formed batch and a corrupted copy."
    loss = data.draw(st.sampled_from(['logistic', 'cross_entropy']), label='loss')
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64]), label='dtype')
    name = data.draw(st.sampled_from(list(CORRUPTIONS)), label='corruption')
    B = data.draw(st.integers(1, 6).filter(lambda b: b != N_IN or name != 'x transposed'), label='B')
    x, y = well_formed(loss, dtype, B, data.draw(st.integers(0, 2 ** 16), label='seed'))
    return NETS[loss, dtype], (x, y), CORRUPTIONS[name](x, y, data)


def outcome(f, *args):
    "`f(*args)` as (value, gradients), or the ValueError it raised; any other exception fails the test."
    try: value = f(*args)
    except ValueError as e: return e
    net = args[0]
    grads = torch.autograd.grad(value, list(net.parameters()), allow_unused=True)
    return [value.detach().double()] + [g.double() for g in grads if g is not None]


def same(a, b):
    return len(a) == len(b) and all(u.shape == v.shape and torch.allclose(u, v, rtol=1e-5, atol=1e-7) for u, v in zip(a, b))


def network_loss(net, x, y):
    "What a network's own boundary does: check the batch, then run it (a fixed seed samples the same states)."
    net.check_data(x, y)
    torch.manual_seed(1)
    return net.loss(net(x), y).mean()


@settings(max_examples=400, **CFG)
@given(st.data())
def test_network_boundary(data):
    net, good, bad = batch(data)
    expected, got = outcome(network_loss, net, *good), outcome(network_loss, net, *bad)
    assert not isinstance(expected, ValueError), expected
    if isinstance(got, ValueError):
        assert str(got).startswith(('x: ', 'y: ', 'x (inputs) ', 'y (targets) ')), f"the message should name the argument: {got}"
    else:
        assert same(got, expected), "accepted a batch that gives another result than the well-formed one"


ESTIMATORS = ['st', 'psa', 'reinforce', 'arm', 'mean_field', 'concrete', 'exact']


def surrogate(name):
    def f(net, x, y):
        torch.manual_seed(1)
        return estimator(name).surrogate(net, x, y)
    return f


@pytest.mark.parametrize('name', ESTIMATORS)
@settings(max_examples=60, **CFG)
@given(data=st.data())
def test_estimator_boundary(name, data):
    net, good, bad = batch(data)
    f = surrogate(name)
    expected, got = outcome(f, net, *good), outcome(f, net, *bad)
    assert not isinstance(expected, ValueError), (name, expected)   # every estimator takes every well-formed batch
    if isinstance(got, ValueError):
        assert str(got).startswith(('x: ', 'y: ', 'x (inputs) ', 'y (targets) ')), f"{name}: the message should name the argument: {got}"
    else:
        assert same(got, expected), f"{name}: accepted a batch that gives another result than the well-formed one"


def copies(net, n):
    "`n` batched copies of the parameters (n = 0: unbatched), leaves that require grad."
    pairs = [tuple(p.detach() for p in pair) for pair in net.layer_params()]
    return [tuple((p if n == 0 else p.expand(n, *p.shape)).clone().requires_grad_() for p in pair) for pair in pairs]


def relayer(P, k, f):
    "`P` with the pair of layer `k` replaced by `f(W, b)`."
    return [f(*pair) if i == k else pair for i, pair in enumerate(P)]

PARAM_CORRUPTIONS = {  # name: (params, data) -> params'
    'none': lambda P, d: P,
    'a layer fewer': lambda P, d: P[:-1],
    'a layer more': lambda P, d: P + P[-1:],
    'bias longer': lambda P, d: relayer(P, d.draw(st.integers(0, len(P) - 1)), lambda W, b: (W, torch.cat([b, b[..., :1]], -1))),   # one bias too many
    'head transposed': lambda P, d: relayer(P, len(P) - 1, lambda W, b: (W.transpose(-1, -2), b)),   # [out, 2], out != 2
    'bias copies differ': lambda P, d: relayer(P, d.draw(st.integers(0, len(P) - 1)), lambda W, b: (W, b[0] if b.ndim == 2 else b.expand(2, -1))),
    'other copy count': lambda P, d: relayer(P, d.draw(st.integers(0, len(P) - 1)), lambda W, b: (W[:1], b[:1]) if W.ndim == 3 else (W[None], b[None])),
    'extra leading dim': lambda P, d: [(W[None], b[None]) for W, b in P],
    'dtype': lambda P, d: relayer(P, d.draw(st.integers(0, len(P) - 1)), lambda W, b: (W.to(torch.float16), b)),
    'pair as list of three': lambda P, d: relayer(P, 0, lambda W, b: [W, b, b]),
    'numpy weight': lambda P, d: relayer(P, 0, lambda W, b: (W.detach().numpy(), b)),
}


@pytest.mark.parametrize('name', ['st', 'psa', 'reinforce', 'mean_field', 'exact'])
@settings(max_examples=40, **CFG)
@given(data=st.data())
def test_params_boundary(name, data):
    "Explicit parameters of the wrong layout are a ValueError naming `params`, never broadcast or a raw torch error."
    loss = data.draw(st.sampled_from(['logistic', 'cross_entropy']), label='loss')
    net = NETS[loss, torch.float64]
    x, y = well_formed(loss, torch.float64, data.draw(st.integers(1, 6), label='B'), data.draw(st.integers(0, 2 ** 16), label='seed'))
    P = copies(net, 0 if name == 'exact' else data.draw(st.integers(2, 4), label='copies'))
    corruption = data.draw(st.sampled_from(list(PARAM_CORRUPTIONS)), label='corruption')
    bad = PARAM_CORRUPTIONS[corruption](P, data)
    torch.manual_seed(1)
    if corruption == 'none':
        estimator(name).surrogate(net, x, y, bad).backward()
        assert all(p.grad is not None for pair in P for p in pair)
        return
    with pytest.raises(ValueError, match=r'^params'): estimator(name).surrogate(net, x, y, bad)
