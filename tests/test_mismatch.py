"""`mismatch` keeps every proxy's numbers, refuses what it cannot measure with a message naming the argument, and gives
the same numbers whatever its `chunk`."""
import copy
import pytest
import torch
from torch import nn
from sbn_estimators.estimators import estimator
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch, proxy_estimator, smoothed_grad

ClippedST = type(proxy_estimator('clipped_st'))


class A(ClippedST): name = None   # classes nobody registered: no spec
class B(ClippedST): name = None


def binary_net(bias=False, seed=0):
    "64-16-10 with batch norm and one binary layer, and a batch of 32 random examples of 10 classes."
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(64, 16, bias=bias), nn.BatchNorm1d(16), BinaryActivation(proxy_estimator('clipped_st')),
                            nn.Linear(16, 10))
    return net, torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_no_result_is_overwritten():
    net, x, y = binary_net()
    r = mismatch(net, x, y, proxies=[A(), B(), 'st', estimator('st'), None, None], samples=8, names=['3.weight'])
    assert list(r['cos']) == ['A', 'B', 'st', 'st#2', 'own', 'own#2'] == list(r['cos_corrected'])


def test_a_flat_reference_is_refused_with_what_to_do():
    net, x, y = binary_net()
    with pytest.raises(ValueError, match=r"names: the smoothed reference gradient of '0\.weight' is zero: .* at rel_sigma=1e-06 .*"
                                         r"raise rel_sigma, or leave '0\.weight' out of names"):
        mismatch(net, x, y, proxies=['clipped_st'], rel_sigma=1e-6, samples=8)
    net, x, y = binary_net(bias=True)
    with pytest.raises(ValueError, match=r"leave '0\.bias' out of names"):   # batch norm removes the shift
        mismatch(net, x, y, samples=8, names=['0.bias'])


def test_a_batch_of_one_with_batch_norm_is_refused():
    net, x, y = binary_net()
    with pytest.raises(ValueError, match=r"x: a batch of 1 example, .*batch norm \('1'\).*at least 2 examples"):
        mismatch(net, x[:1], y[:1], samples=8)


def test_inputs_of_another_dtype_are_refused():
    net, x, y = binary_net()
    with pytest.raises(ValueError, match=r"x: inputs must have the network's dtype torch\.float64, got torch\.float32"):
        mismatch(copy.deepcopy(net).double(), x, y, samples=8)


def test_the_numbers_do_not_depend_on_chunk():
    net, x, y = binary_net()
    r = [mismatch(net, x, y, proxies=['clipped_st'], samples=400, seed=3, chunk=c) for c in (7, 64, 500)]
    numbers = lambda res: [res['ceiling']['0.weight'], *[res[k]['clipped_st'][n] for k in ('cos', 'cos_corrected') for n in res['layers']]]
    for other in r[1:]: assert numbers(other) == pytest.approx(numbers(r[0]), abs=1e-5)
    f = lambda p: torch.sin(p[0]).flatten(1).sum(1)
    w = [torch.randn(3, 4, dtype=torch.float64)]
    g = [smoothed_grad(f, w, 0.5, 50, seed=1, chunk=c)[0] for c in (1, 7, 50)]
    assert all(torch.allclose(gi, g[0], rtol=0, atol=1e-12) for gi in g)
