"Review s57 (fx1): noises compare by their parameters; the loss kernels refuse targets that would broadcast or truncate; binomial_z's p, binary_states' memory, flip_crop's pad, the CIFAR install advice."
import copy, json, pickle, sys
from pathlib import Path
import pytest, torch
from sbn_estimators.core import Noise, LogisticNoise, NOISES, registered_noise, logistic_loss, cross_entropy_loss, get_loss, values_checked
from sbn_estimators.stats import binomial_z
from sbn_estimators.exact import binary_states
from sbn_estimators.data import flip_crop, cifar10_data, DataNotFoundError
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent


class Scaled(Noise):   # a parameterised noise of the user's: a logistic of scale s
    name = 'scaled'
    def __init__(self, s): self.s = s
    def cdf(self, a): return torch.sigmoid(a / self.s)
    def pdf(self, a): p = self.cdf(a); return p * (1 - p) / self.s
    def sample(self, shape, device=None, dtype=None): u = torch.rand(shape, device=device, dtype=dtype); return self.s * (u.log() - (-u).log1p())


# 1. Noise equality and repr
def test_parameterised_noises_differ_and_show_their_parameters():
    assert Scaled(1.) != Scaled(3.) and Scaled(1.) == Scaled(1.)
    assert repr(Scaled(1.)) == 'Scaled(s=1.0)' and repr(Scaled(3.)) != repr(Scaled(1.))
    assert hash(Scaled(1.)) == hash(Scaled(3.))   # equal noises hash equal; the hash stays the name's
    t = Scaled(torch.tensor([1., 2.]))
    assert t == copy.deepcopy(t) == pickle.loads(pickle.dumps(t)) and t != Scaled(torch.tensor([1., 3.]))
    assert t != Scaled(torch.tensor([1., 2.], dtype=torch.float64)) and t != Scaled(torch.tensor([1., 2., 3.]))   # no broadcasting, no error
    Scaled([torch.ones(2)]) == Scaled([torch.ones(2)])   # a value without one truth value: no error raised


def test_registered_noises_unchanged():
    for name, n in NOISES.items():
        assert registered_noise(n) == name and copy.deepcopy(n) == n == pickle.loads(pickle.dumps(n)) and repr(n) == f'{type(n).__name__}()'
    assert NOISES['logistic'] != NOISES['normal'] and LogisticNoise() == NOISES['logistic']


def test_estimator_refuses_a_noise_with_other_parameters():
    net = SBNMLP([2, 3, 1], noise=Scaled(1.))
    from sbn_estimators.estimators import estimator
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.tensor([[1.], [-1.], [1.], [1.]], dtype=torch.float64)
    estimator('st', noise=Scaled(1.)).surrogate(net, x, y)   # its own noise: accepted
    with pytest.raises(ValueError, match=r'assumes Scaled\(s=3\.0\) noise but the network has Scaled\(s=1\.0\) noise'):
        estimator('st', noise=Scaled(3.)).surrogate(net, x, y)


# 2. loss kernels
def test_logistic_loss_refuses_targets_that_broadcast():
    with pytest.raises(ValueError, match=r"y: logistic targets must be a tensor \[B, out\].*got \[4\]; pass y\[:, None\]"):
        logistic_loss(torch.zeros(4, 1), torch.ones(4))
    with pytest.raises(ValueError, match=r"got \[3, 1\]"): logistic_loss(torch.zeros(4, 1), torch.ones(3, 1))
    with pytest.raises(ValueError, match=r"got \[4, 2\]"): logistic_loss(torch.zeros(4, 1), torch.ones(4, 2))
    assert logistic_loss(torch.zeros(5, 4, 2), torch.ones(4, 2)).shape == (5, 4)   # leading dimensions: on purpose
    assert logistic_loss(torch.zeros(5, 1, 2), torch.ones(4, 2)).shape == (5, 4)   # one state against B targets (exact enumeration)


def test_cross_entropy_loss_refuses_float_and_out_of_range_labels():
    with pytest.raises(ValueError, match=r"y: cross-entropy targets must be an integer tensor of class indices in 0\.\.2, got dtype torch\.float32"):
        cross_entropy_loss(torch.tensor([[0., 10, 0]]), torch.tensor([1.9]))
    for bad in (3, -1):
        with pytest.raises(ValueError, match=rf"y: class indices must be in 0\.\.2 \(3 classes\), got values \[{bad}\]"):
            cross_entropy_loss(torch.zeros(2, 3), torch.tensor([bad, 0]))
    with pytest.raises(ValueError, match=r"must have shape \[B\].*got \[2, 1\]"): cross_entropy_loss(torch.zeros(2, 3), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must have shape \[B\].*got \[3\]"): cross_entropy_loss(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    assert cross_entropy_loss(torch.zeros(5, 1, 3), torch.tensor([0, 1, 2])).shape == (5, 3)


def test_loss_kernels_read_no_value_on_the_way():
    "Shapes and dtypes only: a valid call reads nothing back to the host (no sync per step), inside values_checked or not."
    T = torch.Tensor
    reads, saved = [], {k: getattr(T, k) for k in ('item', '__bool__', 'tolist')}
    try:
        for k, f in saved.items(): setattr(T, k, lambda self, *a, _f=f, _k=k: (reads.append(_k), _f(self, *a))[1])
        logistic_loss(torch.zeros(4, 1), torch.ones(4, 1)); cross_entropy_loss(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))
        with values_checked(): cross_entropy_loss(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))
    finally:
        for k, f in saved.items(): setattr(T, k, f)
    assert reads == [], reads


def test_a_custom_loss_gets_one_target_row_per_example():
    sq = get_loss(lambda e, y: (e - y).pow(2).sum(-1))
    with pytest.raises(ValueError, match=r"y: targets must have one row per example, 4 rows"): sq(torch.zeros(4, 1), torch.ones(3, 1))
    assert sq(torch.zeros(4, 1), torch.ones(4, 1)).shape == (4,)


# 3. binomial_z
def test_binomial_z_p_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"p: probabilities of shape \[3\] do not broadcast with count of shape \[2\]"):
        binomial_z(torch.tensor([1., 2.]), 10, torch.tensor([.5, .5, .5]))
    assert binomial_z(torch.tensor([5., 5.]), 10, torch.tensor(.5)).tolist() == [0., 0.]


# 4. binary_states
def test_binary_states_refuses_what_memory_cannot_hold():
    with pytest.raises(ValueError, match=r"n = 40 units: the 2\*\*40 states need about .* to build, above the limit of"):
        binary_states(40)
    assert binary_states(3).shape == (8, 3)


# 5. flip_crop
def test_flip_crop_pad_below_the_image_size():
    with pytest.raises(ValueError, match=r"pad must be smaller than the image's height and width \(H = 4, W = 4\).*got pad=100"):
        flip_crop(torch.ones(2, 1, 4, 4), pad=100)
    with pytest.raises(ValueError, match=r"got pad=4"): flip_crop(torch.ones(2, 1, 4, 6), pad=4)
    torch.manual_seed(0)
    assert all(flip_crop(torch.ones(64, 1, 4, 4), pad=3).sum((1, 2, 3)).min() > 0 for _ in range(5))   # pad = H - 1: some of the image always
    assert flip_crop(torch.ones(2, 1, 4, 4), pad=0).sum() == 32


# 6. CIFAR install advice
def test_readme_and_message_say_install_with_the_constraints(tmp_path, monkeypatch):
    cmd = 'pip install -c constraints.txt -e ".[cifar]"'
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert cmd in readme and 'which the library does not install' not in readme
    index = ''.join(''.join(c['source']) for c in json.loads((ROOT / 'nbs' / 'index.ipynb').read_text(encoding='utf-8'))['cells'])
    assert cmd in index
    monkeypatch.setitem(sys.modules, 'torchvision', None)
    with pytest.raises(ValueError) as e: cifar10_data(tmp_path / 'nope', download=True)
    assert f'install it with the constraints file: {cmd}' in str(e.value) and 'download.pytorch.org/whl/cpu' in str(e.value), str(e.value)
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'nope')
    assert cmd in str(e.value), str(e.value)
