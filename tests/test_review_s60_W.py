"Review s60 (fix W): reinforce's spec canonical (n at its baseline's default left out, the resolved n kept), an unregistered subclass's spec names its class, `Data` equal only to itself and picklable, a data folder that is not a path refused with a ValueError."
import pickle
from pathlib import Path
import numpy as np
import pytest, torch
from sbn_estimators import estimator
from sbn_estimators.cli import check_distinct
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.straight_through import ST
from sbn_estimators.unbiased import Reinforce
from sbn_estimators.data import IDX_STEMS, write_idx, write_fake_cifar10, cifar10_data, digits_data, fashion_mnist_data, get_data, read_idx_dataset

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


# --- 3. Data: equal only to itself, picklable -------------------------------------------------------------------------

def fake_idx(folder, n_train=30, n_test=10):
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (n_train, n_train, n_test, n_test)):
        write_idx(folder / stem, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if 'images' in stem else rng.integers(0, 10, n).astype(np.uint8))
    return folder

def test_data_is_equal_only_to_itself():
    d = get_data('digits')
    assert d == d and not (d == get_data('digits')) and d != get_data('digits')
    assert len({d, d, get_data('digits')}) == 2   # hashable, by identity

def _same_after_pickling(d, train=False):
    X = d.splits['train'][0][:6]
    e = pickle.loads(pickle.dumps(d))
    assert (e.name, e.n_out, e.loss, e.in_shape) == (d.name, d.n_out, d.loss, d.in_shape)
    for k in d.splits: assert all(torch.equal(a, b) for a, b in zip(d.splits[k], e.splits[k]))
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(1); x = d.input(X, dtype, train=train)
        torch.manual_seed(1); assert torch.equal(e.input(X, dtype, train=train), x)

def test_digits_pickle():
    d = digits_data(seed=1)
    _same_after_pickling(d)
    assert torch.equal(d.input(d.splits['test'][0]), d.splits['test'][0].float() / 16)   # the same numbers as before

def test_idx_data_pickles(tmp_path):
    fake_idx(tmp_path)
    for scale in ('pm1', 'unit'):
        d = fashion_mnist_data(root=tmp_path, val=5, scale=scale, verify=False)
        _same_after_pickling(d)
        lo = -1. if scale == 'pm1' else 0.
        assert torch.equal(d.input(d.splits['test'][0]), d.splits['test'][0].float() * ((1 - lo) / 255) + lo)

@pytest.mark.parametrize('normalize, augment', [(True, True), (False, True), (True, False)])
def test_cifar10_data_pickles(tmp_path, normalize, augment):
    write_fake_cifar10(tmp_path, n_per_batch=6)
    d = cifar10_data(tmp_path, val=5, normalize=normalize, augment=augment)
    d.input(d.splits['train'][0][:2], train=True)   # its per-device copies made: pickled without them
    _same_after_pickling(d, train=augment)


# --- 4. a data folder that is not a path ------------------------------------------------------------------------------

@pytest.mark.parametrize('root', [1, None, 2.5, b'data'])
def test_cifar10_root_not_a_path_is_a_value_error(root):
    with pytest.raises(ValueError, match=r"root \(--data-dir\) must be a folder path \(a str or pathlib.Path\), got " + repr(root).replace('.', r'\.')):
        cifar10_data(root)

def test_idx_root_not_a_path_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"root \(--data-dir\) must be a folder path \(a str or pathlib.Path; None: the default places\), got 1 \(int\)"):
        read_idx_dataset('fashion_mnist', 1)
    fake_idx(tmp_path)
    assert len(fashion_mnist_data(root=str(tmp_path), val=5, verify=False).splits['test'][1]) == 10   # a str still works
