"Review s47, fix X1: exact_loss is its checks (`_exact_checks`) plus the unchecked enumeration `_exact_loss`; train_toy_sbn checks once and calls the enumeration per step."
import math
import pytest, torch
import sbn_estimators.exact as ex
import sbn_estimators.gradeval as ge
from sbn_estimators.exact import exact_loss
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.gradeval import train_toy_sbn


def _counter(monkeypatch, module, name):
    "Wrap `module.name` so that its calls are counted; the list of calls' argument tuples."
    calls, f = [], getattr(module, name)
    def wrapped(*a, **k): calls.append(a); return f(*a, **k)
    monkeypatch.setattr(module, name, wrapped)   # raises AttributeError where the module has no such function (old code)
    return calls


def test_train_toy_sbn_checks_once(monkeypatch):
    "The memory estimate (it reads /proc/meminfo) and the model check run once per training, not once per step (old code: 40 of each for 2 epochs)."
    enum = _counter(monkeypatch, ex, 'check_enumerable')
    model = _counter(monkeypatch, ex, 'check_sbn_model')
    train_toy_sbn(epochs=2)
    assert len(enum) == 1 and enum[0][1] == 10   # the batch size: what one step enumerates
    assert len(model) == 2                       # _exact_checks, and exact_memory inside check_enumerable


def test_train_toy_sbn_calls_the_core(monkeypatch):
    "Every step calls `_exact_loss`, none calls the checked `exact_loss`."
    core = _counter(monkeypatch, ge, '_exact_loss')
    public = _counter(monkeypatch, ge, 'exact_loss')
    train_toy_sbn(epochs=1)
    assert len(core) == 20 and not public


def test_train_toy_sbn_checks_batch_size_against_the_data(monkeypatch):
    "A batch larger than the data enumerates the 200 points at once: that is what the memory check is asked."
    enum = _counter(monkeypatch, ex, 'check_enumerable')
    train_toy_sbn(epochs=1, batch_size=1000, sizes=(2, 3, 1))
    assert [a[1] for a in enum] == [200]


def test_train_toy_sbn_refuses_a_network_too_large():
    with pytest.raises(ValueError, match="network too large to enumerate: binary layer widths \\[40\\]"):
        train_toy_sbn(epochs=1, sizes=(2, 40, 1))


def test_core_equals_exact_loss_and_states_are_read_only():
    "The same value and gradient from the core with shared states; the states are not written by a forward and backward pass."
    X, Y = cos_data(seed=0)
    net = init_sbn_(SBNMLP([2, 4, 3, 1]), X, seed=1)
    W = net.layer_params()[0][0]
    states = ex._exact_states(net.binary_sizes, W.dtype, W.device)
    before = [[t.clone() for t in part] for part in states]
    for red in ('mean', 'none'):
        a = exact_loss(net, X[:30], Y[:30], reduction=red)
        ga = torch.autograd.grad(a.sum(), list(net.parameters()))
        b = ex._exact_loss(net, X[:30], Y[:30], reduction=red, states=states)
        gb = torch.autograd.grad(b.sum(), list(net.parameters()))
        assert torch.equal(a, b) and all(torch.equal(u, v) for u, v in zip(ga, gb))
    assert all(torch.equal(u, v) for p, q in zip(before, states) for u, v in zip(p, q))


def test_exact_loss_still_checks_every_call(monkeypatch):
    "The public function keeps its checks: each call estimates the memory."
    enum = _counter(monkeypatch, ex, 'check_enumerable')
    X, Y = cos_data(seed=0)
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    for _ in range(3): exact_loss(net, X[:10], Y[:10])
    assert len(enum) == 3


@pytest.fixture
def toy():
    X, Y = cos_data(seed=0)
    return init_sbn_(SBNMLP([2, 3, 2, 1]), X, seed=0), X, Y


def test_exact_loss_refuses_bad_input(toy):
    net, X, Y = toy
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'none', got 'sum'"): exact_loss(net, X, Y, reduction='sum')
    with pytest.raises(ValueError): exact_loss(net, X[:, :1], Y)                     # the data's width
    with pytest.raises(ValueError): exact_loss(net, X, Y[:-1])                       # a target per example
    with pytest.raises(ValueError): exact_loss(net, X.float(), Y)                    # the network's dtype
    bad = [(W.detach().clone(), b.detach().clone()) for W, b in net.layer_params()]
    bad[1][0][0, 0] = math.nan
    with pytest.raises(ValueError): exact_loss(net, X, Y, params=bad)                # NaN parameters
    with pytest.raises(ValueError, match="network too large to enumerate"): exact_loss(net, X, Y, max_bytes=1)
    with pytest.raises(ValueError, match="needs an SBN model"): exact_loss(torch.nn.Linear(2, 1), X, Y)
    with pytest.raises(ValueError, match="must be torch.float32 or torch.float64"):
        exact_loss(net.to(torch.bfloat16), X.to(torch.bfloat16), Y.to(torch.bfloat16))


def test_exact_loss_checks_the_first_layers_width(toy):
    "A model whose sizes lie about the first layer's width is refused by the checks (before the enumeration)."
    net, X, Y = toy
    class Liar(SBNMLP):
        def layer(self, k, h, params=None):
            out = super().layer(k, h, params)
            return torch.cat([out, out[..., :1]], -1) if k == 0 else out
    liar = Liar([2, 3, 2, 1]); liar.load_state_dict(net.state_dict())
    with pytest.raises(ValueError, match=r"net.layer\(0, x\) gives 4 units"): exact_loss(liar, X, Y)
