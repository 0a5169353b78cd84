"Review s61 (fix Y): an SBN's forward with a local estimator as its activation refuses an estimator of another noise (it sampled with the estimator's noise, not the network's), and names a network-level estimator passed as the activation (was: TypeError 'PSA' object is not callable)."
import math
import pytest, torch
from sbn_estimators import estimator
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.stats import binomial_z

torch.set_num_threads(1)

def _one_unit(noise):
    "SBNMLP [1, 1, 2] whose binary unit has pre-activation a = 1 for the input 1."
    net = SBNMLP([1, 1, 2], noise=noise, loss='cross_entropy')
    with torch.no_grad(): net.layers[0].weight.fill_(1.); net.layers[0].bias.fill_(0.)
    return net

def _nets():
    torch.manual_seed(0)
    return [(SBNMLP([8, 6, 6, 3], loss='cross_entropy'), torch.randn(4, 8, dtype=torch.float64)),
            (SBNConvNet((1, 6, 6), [(2, 3, 1, 1), (2, 3, 2, 1)], 3), torch.randn(4, 1, 6, 6))]


# --- K2. a local estimator of another noise --------------------------------------------------------------------------

@pytest.mark.parametrize('spec', ['st:noise=normal', 'clipped_st:noise=normal', 'reste:noise=normal', 'st:noise=normal,deterministic=True'])
def test_forward_refuses_a_local_estimator_of_another_noise(spec):
    "Was: the forward sampled with the estimator's normal noise (P(+1) = Phi(1) = 0.84 on a logistic network, F(1) = 0.73)."
    for net, x in [(_one_unit('logistic'), torch.ones(5, 1, dtype=torch.float64)), *_nets()]:
        est = estimator(spec)
        with pytest.raises(ValueError, match=r"assumes normal noise but the network has logistic noise; pass noise='logistic'"):
            net(x, est)
        with pytest.raises(ValueError) as sur: est.surrogate(net, x, torch.zeros(len(x), dtype=torch.long))
        with pytest.raises(ValueError) as fwd: net(x, est)
        assert str(fwd.value) == str(sur.value)   # the forward's message is the surrogate's

def test_forward_refuses_a_logistic_only_estimator_on_another_noise():
    net = SBNMLP([8, 6, 3], noise='normal', loss='cross_entropy')
    with pytest.raises(ValueError, match="needs logistic noise; the network has normal noise"):
        net(torch.randn(4, 8, dtype=torch.float64), estimator('darn'))

@pytest.mark.parametrize('noise', ['logistic', 'normal'])
def test_forward_with_the_network_noise_samples_the_network_law(noise):
    torch.manual_seed(1)
    net, n = _one_unit(noise), 100_000
    seen = []
    est = estimator(f'st:noise={noise}')
    est.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    eta = net(torch.ones(n, 1, dtype=torch.float64), est)
    assert eta.shape == (n, 2) and eta.requires_grad
    p = 1 / (1 + math.exp(-1)) if noise == 'logistic' else 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    assert abs(binomial_z((seen[0] == 1).sum(), n, p).item()) < 5

def test_forward_with_a_matching_estimator_runs_on_both_networks():
    for net, x in _nets():
        for spec in ('st', 'darn', 'reste', 'mean_field'):
            assert net(x, estimator(spec)).shape == (4, 3)
        assert net(x, lambda a: a.sign()).shape == (4, 3)   # any function of the pre-activations still
        assert net(x).shape == (4, 3)


# --- K6. a network-level estimator as the activation -----------------------------------------------------------------

@pytest.mark.parametrize('spec', ['psa', 'reinforce', 'arm', 'exact', 'adf'])
def test_forward_names_a_network_level_estimator(spec):
    for net, x in _nets():
        with pytest.raises(ValueError, match=rf"activation: estimator '{spec}' is network-level: it builds a surrogate of the whole "
                                             r"network, not an activation; use est.surrogate\(net, x, y\) \(or net\(x\) to sample"):
            net(x, estimator(spec))

def test_forward_refuses_an_activation_that_is_not_callable():
    for net, x in _nets():
        with pytest.raises(ValueError, match=r"activation must map pre-activations to states .*, got str"):
            net(x, 'st')
