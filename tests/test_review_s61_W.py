"""Review s61 (W): identities of the estimators that no other test checks, each beside a companion test that runs a
deliberately wrong variant through the same check and sees it fail.

1. var(DisARM) <= var(ARM) and var(UGC) <= var(DisARM) in every binary-layer coordinate, strictly over each layer;
2. an `SBNConvNet` of 1x1 kernels on 1x1 inputs is the `SBNMLP` with the same weights: exact gradient and same-seed estimates;
3. PSA is exact on every draw for a loss linear in the states of the single binary layer;
4. the unbiased estimators' means are the exact gradient with saturated pre-activations;
5. Gumbel-Rao with k = 1 has ST-Gumbel's variance.

Monte Carlo bounds come from the sample count alone: a Bonferroni Student t threshold (`z_test`) for means, and for
variances the quantile of F(d, d), the ratio of two independent sample variances of normal estimates with d = S - 1
degrees of freedom, d lowered for heavier tails than normal ones (their measured excess kurtosis). Every false-alarm
probability is at most 1e-6 (1e-3 for `z_test`'s default); the draws are seeded, so each test gives the same answer on every run."""
import math
import pytest, torch
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.stats import z_test, z_threshold

torch.set_num_threads(1)
ALPHA = 1e-6   # false-alarm probability of each variance check as a whole


# --- variance ratios: quantiles of F(d, d) ------------------------------------------------------------------------------

def f_upper(d:int, tests:int, alpha:float=ALPHA) -> float:
    "F* with P(F > F*) = alpha / tests for F ~ F(d, d). Cacoullos (1965): (sqrt(d)/2)(sqrt(F) - 1/sqrt(F)) ~ t_d, so F* = (t/sqrt(d) + sqrt(1 + t^2/d))^2."
    t = z_threshold(tests, 2 * alpha, samples=d + 1)   # tests * P(|T_d| > t) = 2 alpha: P(T_d > t) = alpha / tests
    return (t / math.sqrt(d) + math.sqrt(1 + t * t / d)) ** 2

def test_f_upper_matches_the_tables():
    # F(d, d) upper quantiles from the tables (Abramowitz & Stegun 26.6): 5% at d = 10 and 20, 1% at d = 20, 0.1% at d = 30
    for d, alpha, table in ((10, .05, 2.978), (20, .05, 2.124), (20, .01, 2.938), (30, .001, 3.217)):
        assert f_upper(d, 1, alpha) == pytest.approx(table, abs=1e-3)

def dof(*groups) -> int:
    "d for the ratio of two sample variances of S estimates: var(log s^2) ~ (2 + k)/(S - 1) for excess kurtosis k, so F(d, d) with d = 2(S - 1)/(2 + k) (k: the largest over the coordinates, >= 0)."
    S = min(len(g) for g in groups)
    k = max((((g - g.mean(0)) ** 4).mean(0) / g.var(0, correction=0) ** 2 - 3).max().item() for g in groups)
    return int(2 * (S - 1) / (2 + max(k, 0.)))


# --- 1. variance ordering: ARM >= DisARM >= UGC ---------------------------------------------------------------------------
# DisARM is ARM Rao-Blackwellised over the antithetic pair, so it is no noisier in any coordinate; UGC replaces DisARM by
# bitflip-1 on units near p = 0 or 1. Two checks at level ALPHA: no coordinate of the binary layers (the head's gradient is
# the same sampled backprop for all three) has a variance ratio above F*, and each layer's summed variance is below 1/F*
# times the other's (the summed variances have at least d degrees of freedom: sd(sum) <= sum of the sds).

def _binary_draws(spec, seed, S=30000):
    X, Y = cos_data(n_per_class=3, seed=2)
    net = init_sbn_(SBNMLP([2, 3, 2, 1]), X, seed=1)
    torch.manual_seed(seed)
    g = draw_estimates(net, X, Y, estimator(spec), S, chunk=S)
    return [g['layer-0'], g['layer-1']]   # the binary layers; 'layer-2' is the head

@pytest.fixture(scope='module')
def layer_draws():
    draws = {spec: _binary_draws(spec, seed) for seed, spec in enumerate(('arm', 'disarm', 'ugc'), 1)}
    return draws | {'disarm, other draws': _binary_draws('disarm', 4)}

def variance_order(draws, pairs) -> tuple:
    "(no coordinate of `low` clearly noisier than `high`'s, each layer of `low` clearly less noisy) over `pairs` of (low, high)."
    d = dof(*(g for lo, hi in pairs for g in draws[lo] + draws[hi]))
    coords = sum(g.shape[1] for lo, _ in pairs for g in draws[lo])
    layers = sum(len(draws[lo]) for lo, _ in pairs)
    ratios = [(a.var(0), b.var(0)) for lo, hi in pairs for a, b in zip(draws[lo], draws[hi])]
    return (max((va / vb).max().item() for va, vb in ratios) < f_upper(d, coords),
            max(va.sum().item() / vb.sum().item() for va, vb in ratios) < 1 / f_upper(d, layers))

def test_disarm_no_noisier_than_arm_and_ugc_no_noisier_than_disarm(layer_draws):
    assert variance_order(layer_draws, [('disarm', 'arm'), ('ugc', 'disarm')]) == (True, True)

def test_variance_order_fails_for_swapped_or_equal_estimators(layer_draws):
    # swapped: ARM's variance is clearly above DisARM's in some coordinate, and no layer of ARM is less noisy
    assert variance_order(layer_draws, [('arm', 'disarm')]) == (False, False)
    assert variance_order(layer_draws, [('disarm', 'ugc')]) == (False, False)
    # DisARM against itself (other draws): no coordinate is noisier, but no layer is strictly less noisy either
    assert variance_order(layer_draws, [('disarm', 'disarm, other draws')]) == (True, False)


# --- 2. SBNConvNet with 1x1 kernels on 1x1 inputs = SBNMLP ----------------------------------------------------------------
# A 1x1 conv on a 1x1 map is the linear layer with the same weights; the nets draw their noise in the same order when the
# MLP draws one estimate per backward (chunk=1), as the conv net does, so the same seed gives the same estimates.

def _same(a, b) -> bool:
    "Equal up to float64 rounding: 1000 ulps of the values' scale."
    return (a - b).abs().max().item() <= 1000 * torch.finfo(torch.float64).eps * b.abs().max().item()

def _mlp_and_conv(perturb=0.):
    g = torch.Generator().manual_seed(0)
    mlp = SBNMLP([3, 3, 2, 3], loss='cross_entropy')
    conv = SBNConvNet((3, 1, 1), [(3, 1, 1, 0), (2, 1, 1, 0)], 3, dtype=torch.float64)
    with torch.no_grad():
        for lm, lc in zip(mlp.layers, conv.layers):
            lm.weight.copy_(torch.randn(lm.weight.shape, generator=g, dtype=torch.float64))
            lm.bias.copy_(torch.randn(lm.bias.shape, generator=g, dtype=torch.float64))
            lc.weight.copy_(lm.weight.view_as(lc.weight)); lc.bias.copy_(lm.bias)
        conv.layers[0].weight[1, 2] += perturb
    X = torch.randn(6, 3, generator=g, dtype=torch.float64)
    return mlp, conv, X, torch.tensor([0, 1, 2, 0, 1, 2])

CONV_SPECS = ['exact', 'st', 'psa', 'reinforce', 'reinforce:baseline=loo', 'arm']

def conv_matches_mlp(spec, perturb=0., S=20) -> bool:
    mlp, conv, X, Y = _mlp_and_conv(perturb)
    torch.manual_seed(0); gm = draw_estimates(mlp, X, Y, estimator(spec), S, chunk=1)
    torch.manual_seed(0); gc = draw_estimates(conv, X.view(6, 3, 1, 1), Y, estimator(spec), S)
    assert list(gm) == list(gc) == ['layer-0', 'layer-1', 'layer-2']
    return all(_same(gc[k], gm[k]) for k in gm)

@pytest.mark.parametrize('spec', CONV_SPECS)
def test_1x1_conv_net_is_the_mlp(spec):
    assert conv_matches_mlp(spec)

@pytest.mark.parametrize('spec', CONV_SPECS)
def test_1x1_conv_net_with_another_weight_is_not_the_mlp(spec):
    # one kernel weight moved by 0.5. Much less would do for 'exact', 'st', 'psa' and plain 'reinforce' (1e-6 moves them by
    # about 1e-8), but with logistic noise ARM's and leave-one-out REINFORCE's estimates see the weights only through the
    # sampled states: ARM's logit is a itself, and the leave-one-out residuals sum to zero, cancelling the score's term in a
    assert not conv_matches_mlp(spec, perturb=0.5)


# --- 3. PSA is exact for a loss linear in one binary layer ----------------------------------------------------------------
# With one binary layer and the loss eta . y (reviewer C's), the expected loss is linear in E[h]: PSA's gradient of the
# first layer is the exact one on every draw, for logistic and normal noise. With the logistic loss, or a second binary
# layer between, it is not (its draws miss by 0.01 to 0.03).

def linear_loss(eta, y): return (eta * y).sum(-1)

def psa_error(sizes, loss, noise, S=200) -> float:
    "Largest |PSA draw - exact gradient| of the first layer, over S draws, in units of float64 rounding (1000 ulps of the gradient's scale)."
    X, Y = cos_data(n_per_class=5, seed=2)
    net = init_sbn_(SBNMLP(sizes, loss=loss, noise=noise), X, seed=4)
    exact = draw_estimates(net, X, Y, estimator('exact'), 1)['layer-0'][0]
    torch.manual_seed(0)
    g = draw_estimates(net, X, Y, estimator('psa'), S)['layer-0']
    return (g - exact).abs().max().item() / (1000 * torch.finfo(torch.float64).eps * exact.abs().max().item())

@pytest.mark.parametrize('noise', ['logistic', 'normal'])
def test_psa_exact_on_every_draw_for_a_linear_loss(noise):
    assert psa_error([2, 4, 1], linear_loss, noise) <= 1

@pytest.mark.parametrize('sizes, loss', [([2, 4, 1], 'logistic'), ([2, 4, 3, 1], linear_loss)])
def test_psa_not_exact_for_a_nonlinear_objective(sizes, loss):
    assert psa_error(sizes, loss, 'logistic') > 1


# --- 4. unbiased estimators with saturated pre-activations ----------------------------------------------------------------
# The binary layers' weights and biases times 4: the median |pre-activation| is near 3 (p within 0.05 of 0 or 1).
# One Bonferroni t-test over all coordinates of all estimators at false-alarm probability 1e-3 (`z_test`).

UNBIASED = ['reinforce:baseline=loo', 'arm', 'disarm', 'muprop', 'double_cv', 'rodeo', 'ugc']

@pytest.fixture(scope='module')
def saturated():
    X, Y = cos_data(n_per_class=3, seed=1)
    net = init_sbn_(SBNMLP([2, 3, 2, 1]), X, seed=3)
    with torch.no_grad():
        for l in net.layers[:-1]: l.weight.mul_(4); l.bias.mul_(4)
    return net, X, Y, {k: v[0] for k, v in draw_estimates(net, X, Y, estimator('exact'), 1).items()}

def mean_is_exact(saturated, spec, S=4000) -> bool:
    net, X, Y, exact = saturated
    torch.manual_seed(11)
    return z_test(draw_estimates(net, X, Y, estimator(spec), S, chunk=S), exact, extra_tests=len(UNBIASED))[2]

@pytest.mark.parametrize('spec', UNBIASED)
def test_unbiased_with_saturated_units(saturated, spec):
    assert mean_is_exact(saturated, spec)

def test_biased_estimator_fails_the_saturated_check(saturated):
    assert not mean_is_exact(saturated, 'st')   # ST's bias: max |z| near 80 against a threshold near 4.5


# --- 5. Gumbel-Rao with k = 1 is ST-Gumbel in distribution ----------------------------------------------------------------
# One logistic noise drawn given the sampled state has the unconditional noise's joint law with the state: the estimates
# have the same variance in every coordinate (two-sided check at level ALPHA). With k = 8 the slope is averaged over 8 noises
# and the binary layers' variance drops (by a factor 3 in the first layer).

def same_variance(spec, reference='st_gumbel', S=20000) -> bool:
    X, Y = cos_data(n_per_class=3, seed=2)
    net = init_sbn_(SBNMLP([2, 3, 2, 1]), X, seed=1)
    draws = []
    for seed, sp in ((1, reference), (2, spec)):
        torch.manual_seed(seed)
        draws.append(torch.cat(list(draw_estimates(net, X, Y, estimator(sp), S, chunk=S).values()), 1))
    r = draws[1].var(0) / draws[0].var(0)
    F = f_upper(dof(*draws), 2 * r.numel())   # both tails of every coordinate
    return 1 / F < r.min().item() and r.max().item() < F

def test_gumbel_rao_k1_has_st_gumbels_variance():
    assert same_variance('gumbel_rao:k=1')

def test_gumbel_rao_k8_fails_the_equal_variance_check():
    assert not same_variance('gumbel_rao:k=8')
