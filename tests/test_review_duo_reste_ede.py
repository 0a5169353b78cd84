"A review of binaryduo, reste and ede: decoupling binary-weight consumers and input shapes, ReSTEIndicators' gradient hooks, argument checks, numpy scalars."
import numpy as np, pytest, torch
from torch import nn
from sbn_estimators.binaryduo import Quantize, DuoBinary, decouple
from sbn_estimators.binary_weights import BinaryWeightLinear, BinaryWeightConv2d
from sbn_estimators.biper import BiPer
from sbn_estimators.reste import ReSTE, ReSTEIndicators, estimating_error, power_function, gradient_stability
from sbn_estimators.ede import EDE, RBNN, ProgressiveSign, progressive_k
from sbn_estimators.estimators import estimator


def _pair(consumer, conv=False):
    torch.manual_seed(0)
    first = nn.Conv2d(2, 6, 1) if conv else nn.Linear(4, 6)
    return nn.Sequential(first, Quantize(2), consumer).double().eval()


@pytest.mark.parametrize('consumer', [
    lambda: BinaryWeightLinear(6, 2),                                               # scale='none': the output would double
    lambda: BinaryWeightConv2d(6, 2, 3),
    lambda: BinaryWeightLinear(6, 2, scale='tensor', deterministic=False),          # sampled signs: halving changes P(+1)
    lambda: BinaryWeightLinear(6, 2, scale='channel', binarize=ReSTE()),            # stochastic estimator
    lambda: BinaryWeightLinear(6, 2, scale='tensor', binarize=BiPer()),             # not a sign of the latent
])
def test_decouple_refuses_binary_weights_it_cannot_halve(consumer):
    layer = consumer()
    with pytest.raises(ValueError, match=f"feeds a {type(layer).__name__} with scale='{layer.scale}'.*scale='tensor' or 'channel'"):
        decouple(_pair(layer, conv=isinstance(layer, nn.Conv2d)))


@pytest.mark.parametrize('consumer, conv', [
    (lambda: BinaryWeightLinear(6, 2, scale='tensor'), False),
    (lambda: BinaryWeightLinear(6, 2, scale='channel', binarize=ReSTE(deterministic=True)), False),
    (lambda: BinaryWeightConv2d(6, 2, 3, scale='channel'), True),
])
def test_decouple_keeps_scaled_binary_weights_exact(consumer, conv):
    m = _pair(consumer(), conv)
    x = torch.randn((3, 2, 5, 5) if conv else (5, 4), dtype=torch.float64)
    with torch.no_grad(): torch.testing.assert_close(decouple(m)(x), m(x), rtol=0, atol=1e-12)
    refused = _pair(BinaryWeightConv2d(6, 2, 3) if conv else BinaryWeightLinear(6, 2), conv)
    with pytest.raises(ValueError, match="scale='none'"): decouple(refused)


def test_reste_indicators_remove_their_gradient_hooks():
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(4, 3, binarize=ReSTE(deterministic=True)), nn.Linear(3, 1))
    ind, x = ReSTEIndicators(net), torch.randn(8, 4)
    for _ in range(20):
        ind.reset(); net.zero_grad(); net(x).sum().backward(); r = ind.compute()
    assert len(net[0].weight._backward_hooks) == 1   # only the current call's hook
    assert r['0.binarize[0]']['gradient_stability'] == gradient_stability(net[0].weight.grad)   # the same value as before
    ind.remove()
    assert len(net[0].weight._backward_hooks) == 0


def test_decoupled_network_reads_the_coupled_input_shapes():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Linear(3, 2)).double()
    conv = nn.Sequential(nn.Conv2d(2, 3, 1), Quantize(2), nn.MaxPool2d(2), nn.Conv2d(3, 2, 1)).double()
    for net, shapes in ((lin, [(4,), (2, 5, 4), (3, 4)]), (conv, [(2, 6, 6), (3, 2, 6, 6)])):
        dec = decouple(net)
        for s in shapes:
            x = torch.randn(s, dtype=torch.float64)
            with torch.no_grad(): torch.testing.assert_close(dec(x), net(x), rtol=0, atol=1e-12)
    assert (decouple(lin)[1].dim, decouple(conv)[1].dim) == (-1, -3)


@pytest.mark.parametrize('call, msg', [
    (lambda: EDE(deterministic=True).set_t(-1.), r't must be a number in \[1e-06, 1e\+06\], got -1.0'),
    (lambda: EDE().set_t(0.), r't must be a number in \[1e-06, 1e\+06\], got 0.0'),
    (lambda: RBNN().set_t(-2.), r't must be a number in \[1e-06, 1e\+06\], got -2.0'),
    (lambda: RBNN(t_floor=1.).set_t(-2.), r't must be a number in \[1e-06, 1e\+06\], got -2.0'),   # refused before the floor
    (lambda: estimating_error(torch.tensor([0., 2.]), -1.), 'o must be >= 1'),
    (lambda: estimating_error(torch.tensor([0., 2.]), 0.5), 'o must be >= 1'),
    (lambda: power_function(torch.tensor([0., 2.]), 0), 'o must be >= 1'),
    (lambda: power_function(torch.tensor([0., 2.]), -1), 'o must be >= 1'),
    (lambda: power_function(torch.tensor([0., 2.]), '3'), "o must be a finite number, got '3'"),
    (lambda: DuoBinary(0), 'channels must be a positive integer, got 0'),
    (lambda: DuoBinary(-2), 'channels must be a positive integer, got -2'),
    (lambda: DuoBinary(3, shift=float('nan')), 'shift must be a positive number, got nan'),
    (lambda: DuoBinary(3, dim=1), 'dim must be a negative integer'),
    (lambda: gradient_stability(torch.tensor([1.])), 'grad must have at least 2 entries'),
    (lambda: gradient_stability(torch.zeros(0)), 'grad must have at least 2 entries'),
])
def test_argument_checks(call, msg):
    with pytest.raises(ValueError, match=msg): call()


def test_ede_schedule_ends_at_t_max_inside_the_limits():
    est = EDE(t_min=1e-5, t_max=1e6)   # t_min 10^(log10(t_max/t_min)) rounds above 1e6: the schedule must still set it
    est.on_epoch(nn.Sequential(), 7, 7)
    assert est.t == 1e6
    with pytest.raises(ValueError, match='t must be'): est.set_t(1e6 * (1 + 1e-15))


def test_numpy_scalars_are_numbers():
    cases = [('reste', 'o', np.int64(3)), ('ede', 't_min', np.float32(0.5)), ('swish_sign', 'beta', np.int64(5)),
             ('clipped_st', 'threshold', np.float32(1.5)), ('rbnn', 't_floor', np.float64(1.)), ('progressive_sign', 'alpha', np.int64(3)),
             ('progressive_sign', 'scale', np.float32(0.5))]
    for name, arg, v in cases:
        got = getattr(estimator(name, **{arg: v}), arg)
        assert type(got) is float and got == float(v), (name, arg, got)
    assert ReSTE(o=np.float32(2.)).o == 2.
    assert progressive_k(np.float32(0.5), np.int64(4), np.int64(10)) == 4 ** 5
    p = ProgressiveSign(); p.set_scale(np.float64(1.)); assert p.s == 1.
