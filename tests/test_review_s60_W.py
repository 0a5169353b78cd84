"Review s60 (fix W): reinforce's spec canonical (n at its baseline's default left out, the resolved n kept), an unregistered subclass's spec names its class."
import pytest, torch
from sbn_estimators import estimator
from sbn_estimators.cli import check_distinct
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.straight_through import ST
from sbn_estimators.unbiased import Reinforce

torch.set_num_threads(1)


# --- 1. reinforce's spec: one estimator, one spec ---------------------------------------------------------------------

@pytest.mark.parametrize('a, b, spec', [('reinforce:baseline=loo', 'reinforce:baseline=loo,n=4', 'reinforce:baseline=loo'),
                                        ('reinforce', 'reinforce:n=1', 'reinforce'),
                                        ('reinforce:baseline=ema', 'reinforce:baseline=ema,n=None', 'reinforce:baseline=ema')])
def test_reinforce_at_its_default_paths_has_one_spec(a, b, spec):
    assert estimator(a).spec == estimator(b).spec == spec
    with pytest.raises(ValueError, match='are the same estimator'): check_distinct('--estimators', [a, b], [estimator(a), estimator(b)])

def test_reinforce_keeps_the_paths_it_uses():
    loo = estimator('reinforce:baseline=loo')
    assert (loo.n, loo.n_paths, loo.hparams()['n']) == (4, 4, 4) and estimator('reinforce').hparams()['n'] == 1
    assert estimator('reinforce:baseline=loo,n=3').spec == 'reinforce:baseline=loo,n=3' and estimator('reinforce:n=4').spec == 'reinforce:n=4'
    assert estimator(loo.spec).hparams() == loo.hparams()
    check_distinct('--estimators', ['reinforce', 'reinforce:baseline=loo'], [estimator('reinforce'), loo])   # different: accepted

def test_reinforce_numbers_unchanged_by_the_resolved_n():
    X, Y = cos_data(20, seed=0)
    net = init_sbn_(SBNMLP([2, 3, 3, 1]), X, seed=0)
    def grad(est):
        net.zero_grad(); torch.manual_seed(3); est.surrogate(net, X, Y).backward()
        return [p.grad.clone() for p in net.parameters()]
    for g, h in zip(grad(estimator('reinforce:baseline=loo')), grad(Reinforce(baseline='loo', n=4))): assert torch.equal(g, h)

def test_a_subclass_with_its_own_default_n_keeps_it():
    class Fixed(Reinforce):
        def __init__(self, n=2): super().__init__(baseline='loo', n=n)
    assert (Fixed().n, Fixed().spec, Fixed(n=4).spec) == (2, 'Fixed', 'Fixed:n=4')


# --- 2. an unregistered subclass's spec -------------------------------------------------------------------------------

class MyST(ST):
    "A user's variant of st, not registered."
    def slope(self, a): return 2 * super().slope(a)

def test_an_unregistered_subclass_spec_names_its_class():
    e = MyST(noise='normal')
    assert (e.name, e.spec, MyST().spec, ST().spec) == ('st', 'MyST:noise=normal', 'MyST', 'st')
    with pytest.raises(ValueError, match="unknown estimator 'MyST'"): estimator(e.spec)   # not a plain ST made silently
    with pytest.raises(ValueError, match=r"^MyST: state must be a dict"): MyST().load_state_dict([])
    check_distinct('--estimators', ['st', 'mine'], [ST(), MyST()])   # two estimators, not one given twice
    assert repr(MyST()) == "MyST(noise='logistic', deterministic=False)"
