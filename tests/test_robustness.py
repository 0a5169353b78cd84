"Robustness under correct use: copies of tuned estimators, seeded draws in any dtype, the default dtype, gradients disabled, memory layout."
import copy, pickle
import pytest, torch
from sbn_estimators.core import sample_states
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.estimators import estimator, reduce_loss

torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared CPU

X, Y = cos_data(seed=0)
XS, YS = X[::10], Y[::10]
LEARNING = ['rebar', 'relax', 'rodeo', 'reinforce:baseline=nvil', 'reinforce:baseline=ema']
AUTOGRAD_INSIDE = ['muprop', 'double_cv', 'rebar', 'relax', 'rodeo', 'reinforce:baseline=nvil']


def toy(dtype=torch.float64):
    return init_sbn_(SBNMLP([2, 4, 4, 1], dtype=dtype), X.to(dtype), seed=0)


def estimate(net, est, x, y, seed):
    "One estimate of every parameter's gradient, and the surrogate's value, after `torch.manual_seed(seed)`."
    torch.manual_seed(seed)
    net.zero_grad()
    v = est.surrogate(net, x, y)
    v.backward()
    return v.detach(), [p.grad.clone() for p in net.parameters()]


def tensors(state):
    "Every tensor and number in a (nested) state dict, in order."
    if isinstance(state, torch.Tensor): return [state.detach().clone()]
    if isinstance(state, dict): return [t for k in sorted(state, key=str) for t in tensors(state[k])]
    if isinstance(state, (list, tuple)): return [t for s in state for t in tensors(s)]
    return [torch.tensor(float(state))] if isinstance(state, (int, float)) else []


def same(a, b): return len(a) == len(b) and all(torch.equal(s, t) for s, t in zip(a, b))


# 1. REBAR / RELAX copy after a call (the temperature was kept as a tensor with its graph)
@pytest.mark.parametrize('name', ['rebar', 'relax'])
def test_tuned_rebar_relax_deepcopy_and_continue_alike(name):
    net, est = toy(), estimator(name)
    estimate(net, est, XS, YS, 0)
    assert not est.concrete.tau.requires_grad and est.concrete.tau.grad_fn is None
    assert float(est.concrete.tau) == pytest.approx(est.log_tau.exp().item())   # the tuned temperature, after the step
    twin = copy.deepcopy(est)
    pickle.loads(pickle.dumps(est))
    a, b = estimate(net, est, XS, YS, 1), estimate(net, twin, XS, YS, 1)
    assert torch.equal(a[0], b[0]) and same(a[1], b[1])


# 2. seeded data and initialisation: the same draws in float32 as in float64
def test_cos_data_is_the_same_points_in_every_dtype():
    X32, Y32 = cos_data(seed=0, dtype=torch.float32)
    assert torch.equal(X32, X.float()) and torch.equal(Y32, Y.float())
    assert X[0].tolist() == [1.4767150572732968, 0.1682727668849966]   # float64 draws unchanged (stored results)
    assert torch.equal(cos_data(7, seed=5, dtype=torch.bfloat16)[0], cos_data(7, seed=5)[0].bfloat16())


def test_init_sbn_is_the_same_network_in_every_dtype():
    X32 = X.float()
    n32 = init_sbn_(SBNMLP([2, 5, 5, 1], dtype=torch.float32), X32, seed=0)
    n64 = init_sbn_(SBNMLP([2, 5, 5, 1]), X32.double(), seed=0)   # the same data: the float64 weights, rounded
    assert all(torch.equal(p, q.float()) for p, q in zip(n32.parameters(), n64.parameters()))
    n64 = init_sbn_(SBNMLP([2, 5, 5, 1]), X, seed=0)               # the data rounded to float32: up to rounding
    assert all(torch.allclose(p.double(), q, rtol=1e-5, atol=1e-6) for p, q in zip(n32.parameters(), n64.parameters()))


# 3. helper networks: their initial weights do not depend on torch's default dtype
@pytest.mark.parametrize('spec', ['relax', 'reinforce:baseline=nvil', 'rodeo'])
def test_helper_networks_do_not_depend_on_the_default_dtype(spec):
    net = toy(torch.float32)
    xs, ys = XS.float(), YS.float()
    def second(default):
        old = torch.get_default_dtype()
        torch.set_default_dtype(default)
        try:
            est = estimator(spec)
            estimate(net, est, xs, ys, 0)
            return estimate(net, est, xs, ys, 1)
        finally: torch.set_default_dtype(old)
    a, b = second(torch.float32), second(torch.float64)
    assert torch.equal(a[0], b[0]) and same(a[1], b[1])


# 4. gradients disabled: the loss value, no error, and no tuning step
@pytest.mark.parametrize('spec', AUTOGRAD_INSIDE)
def test_inference_mode_gives_the_loss_value(spec):
    net = toy()
    with torch.inference_mode():
        torch.manual_seed(3)
        v = estimator(spec).surrogate(net, XS, YS)
    torch.manual_seed(3)
    assert v.ndim == 0 and v.item() == reduce_loss(net.loss(net(XS), YS)).item()


@pytest.mark.parametrize('spec', LEARNING)
@pytest.mark.parametrize('off', [torch.no_grad, torch.inference_mode])
def test_no_tuning_with_gradients_disabled(spec, off):
    net, est = toy(), estimator(spec)
    estimate(net, est, XS, YS, 0)                       # builds what it learns
    before = tensors(est.state_dict())
    with off(): v = est.surrogate(net, XS, YS)
    assert torch.isfinite(v) and same(tensors(est.state_dict()), before)
    estimate(net, est, XS, YS, 1)                       # with gradients it still learns
    assert not same(tensors(est.state_dict()), before)


def test_rebar_refuses_a_noise_without_logits_with_gradients_disabled_too():
    net = SBNMLP([2, 3, 1], noise='uniform')
    with torch.no_grad(), pytest.raises(ValueError, match='logistic or normal'): estimator('rebar').surrogate(net, XS, YS)


# 5. the same seed gives the same states whatever the memory layout
def test_sample_states_follow_values_not_layout():
    a = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    torch.manual_seed(1); s = sample_states(a)
    torch.manual_seed(1); t = sample_states(a.to(memory_format=torch.channels_last))
    torch.manual_seed(1); u = torch.rand(3, 4, 5, 6, dtype=torch.float64)
    assert torch.equal(s, t) and torch.equal(s, torch.where(u < torch.sigmoid(a), 1., -1.).double())


@pytest.mark.parametrize('name', ['st', 'psa'])
def test_channels_last_input_gets_the_same_estimate(name):
    torch.manual_seed(0)
    net = SBNConvNet((2, 6, 6), [(3, 3, 1, 0), (2, 3, 2, 0)], 3, dtype=torch.float64)
    x, y = torch.randn(5, 2, 6, 6, dtype=torch.float64), torch.randint(0, 3, (5,))
    a = estimate(net, estimator(name), x, y, 1)
    b = estimate(net, estimator(name), x.to(memory_format=torch.channels_last), y, 1)
    assert all(torch.allclose(p, q, rtol=0, atol=1e-12) for p, q in zip(a[1], b[1]))   # the same states: rounding only


# Half precision: every estimator that draws its own noise draws it in float32 (`noise_dtype`). In bfloat16 a uniform is 0
# with probability about 2e-3 and F(a) is rounded, so at a = -8 the states came out +1 with probability 2.3e-3, not 3.4e-4.
P8 = torch.sigmoid(torch.tensor(-8., dtype=torch.float64)).item()


@pytest.mark.parametrize('spec', ['concrete', 'st_gumbel', 'decoupled_st', 'gumbel_rao'])
def test_local_estimators_draw_unbiased_states_in_bfloat16(spec):
    from sbn_estimators.stats import binomial_z, z_threshold
    import sbn_estimators.gumbel_family  # registers decoupled_st and gumbel_rao
    n = 2_000_000
    torch.manual_seed(0)
    x = estimator(spec)(torch.full((n,), -8., dtype=torch.bfloat16))
    assert x.dtype == torch.bfloat16
    assert abs(binomial_z((x > 0).sum(), n, P8)) < z_threshold(4)   # the old draws: z = 38


def saturated_sbn(dtype):
    "1-2-1 SBN whose hidden units are +1 with probability sigmoid(-8) each."
    net = SBNMLP([1, 2, 1], dtype=dtype)
    with torch.no_grad():
        net.layers[0].weight.zero_(); net.layers[0].bias.fill_(-8.)
        net.layers[1].weight.fill_(1.); net.layers[1].bias.zero_()
    return net


def test_t_threshold():
    "The library's Student's t tail and thresholds (`stats.student_t_tail`, `stats.z_threshold(..., samples=)`) at table values."
    from sbn_estimators.stats import student_t_tail, z_threshold
    assert abs(student_t_tail(12.706, 1) - 0.05) < 1e-4 and abs(student_t_tail(2.093, 19) - 0.05) < 1e-4   # the tables' 5 % points
    assert abs(z_threshold(1, 0.01, samples=20) - 2.861) < 1e-3
    assert abs(z_threshold(14, samples=20) - 5.048) < 1e-3      # the check below


BF16_SPECS = ['arm', 'disarm', 'arms', 'ugc', 'reinforce', 'muprop', 'double_cv']


def bf16_batch_grads(spec, seed=0, K=20, B=20_000):
    "K batch estimates [K, 2] of d/db0 on the saturated bfloat16 SBN, and the exact gradient [2] by enumeration in float64."
    from sbn_estimators.exact import exact_loss
    import sbn_estimators.control_variates  # registers ugc
    net = saturated_sbn(torch.bfloat16)
    x, y = torch.zeros(B, 1, dtype=torch.bfloat16), torch.ones(B, 1, dtype=torch.bfloat16)
    est, g = estimator(spec), []
    torch.manual_seed(seed)
    for _ in range(K):
        net.zero_grad()
        est.surrogate(net, x, y).backward()
        g.append(net.layers[0].bias.grad.double())
    ref = saturated_sbn(torch.float64)
    exact_loss(ref, x[:1].double(), y[:1].double()).backward()
    return torch.stack(g), ref.layers[0].bias.grad


def bf16_max_t(g, exact):
    """Largest |t| of the K batch means against `exact`, less bfloat16's rounding: the gradients are kept in bfloat16
    (relative precision 2^-8), which rounds a nearly deterministic estimate (UGC's) the same way in every batch and so
    never shows in the spread; deviations up to 2 * 2^-8 |exact| (the same for both units) count as none (`z_scores`' tol)."""
    from sbn_estimators.stats import z_scores
    return z_scores(g, exact, tol=2 * 2 ** -8 * exact.abs().max().item()).abs().max().item()


@pytest.mark.parametrize('spec', BF16_SPECS)
def test_per_layer_estimators_are_unbiased_in_bfloat16(spec):
    """The mean of K = 20 batch estimates of d/db0 against exact enumeration: with the batches' own standard error the score
    is Student's t with K - 1 = 19 degrees of freedom; Bonferroni over the 2 coordinates of the 7 estimators (5.05)."""
    from sbn_estimators.stats import z_threshold
    g, exact = bf16_batch_grads(spec)
    t = bf16_max_t(g, exact)
    assert t < z_threshold(2 * len(BF16_SPECS), samples=len(g)), (spec, g.mean(0), exact, t)


def test_bfloat16_check_sees_half_precision_draws(monkeypatch):
    "The check above with the old draws, noise drawn and compared in bfloat16: ARM's mean was 3.7x the exact value."
    import sbn_estimators.core, sbn_estimators.unbiased
    for module in (sbn_estimators.core, sbn_estimators.unbiased): monkeypatch.setattr(module, 'noise_dtype', lambda dtype: dtype)
    from sbn_estimators.stats import z_threshold
    g, exact = bf16_batch_grads('arm')
    assert bf16_max_t(g, exact) > z_threshold(2 * len(BF16_SPECS), samples=len(g))


@pytest.mark.parametrize('spec, state', [('rodeo', lambda e: [e.alphas, e.betas, *e.nets.parameters()]),
                                         ('reinforce:baseline=nvil', lambda e: list(e.baseline_net.parameters()))])
def test_learned_state_is_float32_for_half_precision(spec, state):
    "Adam's eps = 1e-8 is 0 in float16: a state kept in float16 went infinite at its first step, then every gradient was NaN."
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 2, 1], dtype=torch.float16)
    x, y, est = torch.randn(5, 3).half(), torch.ones(5, 1).half(), estimator(spec)
    for _ in range(3):
        net.zero_grad()
        est.surrogate(net, x, y).backward()
        assert all(torch.isfinite(p.grad).all() for p in net.parameters()), spec
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in state(est)), spec


@pytest.mark.parametrize('spec', ['rebar', 'relax'])
def test_rebar_relax_refuse_half_precision_parameters(spec):
    "Their control variates cancel terms of order 1: in bfloat16 the test above measured d/db0 = 1e-4 for an exact 5e-4."
    net = saturated_sbn(torch.bfloat16)
    with pytest.raises(ValueError, match='float32 or float64 parameters, got torch.bfloat16'):
        estimator(spec).surrogate(net, torch.zeros(4, 1, dtype=torch.bfloat16), torch.ones(4, 1, dtype=torch.bfloat16))


def test_mismatch_own_proxy_is_the_unit_as_it_is():
    "The 'own' proxy copies the unit's estimator (deterministic forward): a schedule's current slope, an unregistered class."
    from torch import nn
    from sbn_estimators.layers import BinaryActivation
    from sbn_estimators.mismatch import proxy_estimator
    from sbn_estimators.straight_through import StraightThrough
    import sbn_estimators.ede  # registers ede and rbnn
    a = torch.linspace(-1.4, 1.4, 5, dtype=torch.float64)
    for spec in ('reste:o=3', 'ede', 'rbnn'):
        model = nn.Sequential(BinaryActivation(spec))
        est = model[0].est
        est.on_epoch(model, 5, 10)                       # mid-schedule: the spec alone would rebuild the start or the end
        own = proxy_estimator(est)
        assert own.deterministic and own is not est and not est.deterministic
        assert torch.equal(own.slope(a), est.slope(a)), spec

    class Mine(StraightThrough):                         # not in the registry
        def slope(self, a): return torch.ones_like(a)
    own = proxy_estimator(Mine())
    assert type(own) is Mine and own.deterministic
    assert torch.equal(own(a), torch.where(a >= 0, 1., -1.).double())


def test_inference_mode_gives_the_loss_value_at_the_given_params():
    net = toy()
    params = net.sample_params(3)                        # batched copies, not the network's own parameters
    for spec in ('double_cv', 'reinforce:baseline=nvil'):
        with torch.inference_mode():
            torch.manual_seed(3)
            v = estimator(spec).surrogate(net, XS, YS, params)
        torch.manual_seed(3)
        assert v.item() == reduce_loss(net.loss(net(XS, params=params), YS)).item(), spec


def test_a_loaded_nvil_state_is_given_back_before_the_next_call():
    "A resumed run may checkpoint again before the baseline network is rebuilt (at the next call): state_dict() is what was loaded."
    net, est = toy(), estimator('reinforce:baseline=nvil')
    estimate(net, est, XS, YS, 0)
    state = est.state_dict()
    twin = estimator('reinforce:baseline=nvil')
    twin.load_state_dict(copy.deepcopy(state))
    assert same(tensors(twin.state_dict()), tensors(state))
