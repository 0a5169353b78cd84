"""`mismatch` keeps every proxy's numbers, refuses what it cannot measure with a message naming the argument, and gives
the same numbers whatever its `chunk`."""
import copy, math, re
import numpy as np
import pytest
import torch
from torch import nn
from sbn_estimators.estimators import estimator
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import coordinate_grad, mismatch, proxy_estimator, smoothed_grad, smoothed_grad_samples

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


def test_a_sampling_proxy_spec_is_refused():
    "A proxy that samples would make the measurement depend on its draws."
    with pytest.raises(ValueError, match=r"proxy 'st:deterministic=False': a proxy's forward must be deterministic"):
        proxy_estimator('st:deterministic=False')
    net, x, y = binary_net()
    with pytest.raises(ValueError, match="a proxy's forward must be deterministic"):
        mismatch(net, x, y, proxies=['st:deterministic=False'], samples=8)
    assert proxy_estimator('st:deterministic=True').deterministic


SINES = lambda p: torch.sin(p[0]).sum(-1)
GRADS = {'smoothed_grad': lambda f, p: smoothed_grad(f, p, 0.1, 8), 'smoothed_grad_samples': lambda f, p: smoothed_grad_samples(f, p, 0.1, 8),
         'coordinate_grad': lambda f, p: coordinate_grad(f, p, 0.1)}


@pytest.mark.parametrize('name', GRADS)
def test_the_losses_and_the_point_are_checked(name):
    "A loss that is not one value per point would broadcast into a wrong gradient; a bare tensor would be taken row by row."
    grad, w = GRADS[name], torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    for f, got in ((lambda p: torch.sin(p[0]).sum(), r'\[\]'), (lambda p: torch.sin(p[0]), r'\[\d+, 3\]')):
        with pytest.raises(ValueError, match=rf"f must return one loss per parameter point: shape \[\d+\], got shape {got}"): grad(f, [w])
    with pytest.raises(ValueError, match=r"params must be a list of tensors, got one tensor of shape \[3\]; pass \[w\]"): grad(SINES, w)
    with pytest.raises(ValueError, match=r"params must be a non-empty list of floating-point tensors, got \[\]"): grad(SINES, [])


def test_scales_must_be_finite_and_seeds_integers():
    w = [torch.tensor([0.3, -1.2], dtype=torch.float64)]
    with pytest.raises(ValueError, match=r"sigma must be a positive finite number .*, got inf"): smoothed_grad(SINES, w, math.inf, 8)
    with pytest.raises(ValueError, match=r"h must be a positive finite number .*, got inf"): coordinate_grad(SINES, w, math.inf)
    assert torch.equal(smoothed_grad(SINES, w, torch.tensor(0.5), 8)[0], smoothed_grad(SINES, w, 0.5, 8)[0])   # a 0-d tensor is a number
    assert torch.equal(smoothed_grad(SINES, w, 0.1, 8, seed=np.int64(3))[0], smoothed_grad(SINES, w, 0.1, 8, seed=3)[0])
    net, x, y = binary_net()
    for bad in (1.5, None, -1):
        with pytest.raises(ValueError, match=rf"seed must be an integer in 0\.\.\d+, got {re.escape(repr(bad))}"): smoothed_grad(SINES, w, 0.1, 8, seed=bad)
        with pytest.raises(ValueError, match=rf"seed must be an integer in 0\.\.\d+, got {re.escape(repr(bad))}"): mismatch(net, x, y, samples=8, seed=bad)


def test_a_reference_that_overflows_or_saturates_is_refused_with_lower_rel_sigma():
    net, x, y = binary_net()
    with pytest.raises(ValueError, match=r"gradient of '3\.weight' is nan: the loss is not finite .*: lower rel_sigma"):   # float32 overflows
        mismatch(net, x, y, rel_sigma=1e38, samples=8, names=['3.weight'])
    with pytest.raises(ValueError, match=r"gradient of '0\.weight' is zero: .* at rel_sigma=1e\+30 .*sigma may be too large .*: lower rel_sigma"):
        mismatch(net, x, y, rel_sigma=1e30, samples=8, names=['0.weight'])


def test_a_frozen_weight_is_refused():
    "Backprop gives no gradient of a weight that does not require grad: refused before the reference is estimated."
    net, x, y = binary_net()
    net[3].weight.requires_grad_(False)
    with pytest.raises(ValueError, match=r"names: '3\.weight' does not require grad"):
        mismatch(net, x, y, samples=8, names=['3.weight'])


def test_per_tensor_scales_as_arrays():
    "One scale per parameter tensor as a numpy array or a 1-d tensor, as a list."
    import numpy as np
    from sbn_estimators.mismatch import smoothed_grad, coordinate_grad
    w = [torch.randn(3, dtype=torch.float64), torch.randn(2, dtype=torch.float64)]
    f = lambda ps: (ps[0] ** 2).sum(-1) + ps[1].sum(-1)
    ref = smoothed_grad(f, w, [0.1, 0.2], samples=10, seed=0)
    for s in (np.array([0.1, 0.2]), torch.tensor([0.1, 0.2], dtype=torch.float64)):
        assert all(torch.equal(a, b) for a, b in zip(smoothed_grad(f, w, s, samples=10, seed=0), ref))
    ref = coordinate_grad(f, w, [0.1, 0.2])
    assert all(torch.equal(a, b) for a, b in zip(coordinate_grad(f, w, np.array([0.1, 0.2])), ref))
