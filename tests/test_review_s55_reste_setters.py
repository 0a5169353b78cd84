"ReSTE's o, t and m are checked when set directly, not only in the constructor and the schedule; `bernoulli_weights` checks its flag."
import copy, pickle, pytest, torch
from sbn_estimators.reste import ReSTE
from sbn_estimators.binary_weights import bernoulli_weights

@pytest.mark.parametrize("name,value,match", [("o", -1., "o must be >= 1"), ("o", float('nan'), "o must be a finite"),
    ("o", 0., "o must be >= 1"), ("m", 0., "need 0 < m < t"), ("m", 5., "need 0 < m < t"), ("t", -1., "need 0 < m < t"),
    ("t", 0.05, "need 0 < m < t"), ("t", float('inf'), "t must be a finite")])
def test_setter_refuses(name, value, match):
    e = ReSTE(o=3., deterministic=True)
    with pytest.raises(ValueError, match=match): setattr(e, name, value)
    assert (e.o, e.t, e.m) == (3., 1.5, 0.1)   # unchanged by the refused assignment

def test_setters_accept_and_take_effect():
    e = ReSTE(o=3., deterministic=True)
    e.t = 2.; e.m = 0.2; e.o = 2.
    z = torch.tensor([0.1, 0.5, 1.8, 2.5], dtype=torch.float64, requires_grad=True)
    e(z).sum().backward()
    want = torch.tensor([0.2 ** 0.5 / 0.2, 0.5 * 0.5 ** -0.5, 0.5 * 1.8 ** -0.5, 0.], dtype=torch.float64)
    torch.testing.assert_close(z.grad, want)

def test_copies_and_pickles_keep_t():
    e = ReSTE(o=2., t=2., m=0.3)
    for c in (copy.deepcopy(e), pickle.loads(pickle.dumps(e)), copy.copy(e)):
        assert (c.o, c.t, c.m) == (2., 2., 0.3)
        with pytest.raises(ValueError): c.t = 0.1

def test_old_pickle_layout_with_plain_t():
    e = ReSTE(o=2., t=2., m=0.3)
    state = dict(e.__dict__); state['t'] = state.pop('_t'); state['o'] = state.pop('_o'); state['m'] = state.pop('_m')
    f = ReSTE.__new__(ReSTE); f.__setstate__(state)
    assert (f.o, f.t, f.m) == (2., 2., 0.3)

@pytest.mark.parametrize("bad", ['no', None, 0, 1.0])
def test_bernoulli_weights_flag(bad):
    with pytest.raises(ValueError, match="deterministic"): bernoulli_weights(torch.zeros(3, requires_grad=True), deterministic=bad)
