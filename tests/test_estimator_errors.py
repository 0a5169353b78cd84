"""Argument validation of the straight-through family, binary weights, the unbiased and the relaxed estimators: every
bad input is a ValueError that names the argument, what it got and what is valid (moved here from the pages, so that
they read derivation, code, evidence)."""
import pytest
import torch
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator
from sbn_estimators.binary_weights import BinaryWeightLinear, MirrorDescent, clip_latent_, flip_ratio
from sbn_estimators.unbiased import copula_correlation, dirichlet_copula


def fails(f, *contains):
    with pytest.raises(ValueError) as e: f()
    for c in contains: assert c in str(e.value), (c, str(e.value))
    return str(e.value)


def test_straight_through_parameters():
    fails(lambda: estimator('clipped_st', threshold=0), "threshold must be a positive number")
    fails(lambda: estimator('swish_sign', beta='big'), "beta must be a number in (0, 1e+06], got 'big'")
    fails(lambda: estimator('swish_sign:beta=inf'), "beta must be a number in (0, 1e+06], got inf")
    fails(lambda: estimator('swish_sign:beta=1e308'), "beta must be a number in (0, 1e+06], got 1e+308")
    fails(lambda: estimator('clipped_st:threshold=inf'), "threshold must be a positive number, got inf")
    fails(lambda: estimator('st', deterministic='yes'), "deterministic must be True or False")
    fails(lambda: estimator('st', noise='cauchy'), "valid noises")
    fails(lambda: estimator('approx_sign', threshold=1), "valid parameters: noise=logistic, deterministic=False")


def test_annealed_sign_parameters():
    "EDE and RBNN share their range check; each names the argument, what it got and what is valid."
    for name in ('ede', 'rbnn'):
        fails(lambda: estimator(name, t_min=0), "t_min must be a number in [1e-06, 1e+06], got 0")
        fails(lambda: estimator(name, t_max='big'), "t_max must be a number in [1e-06, 1e+06], got 'big'")
        fails(lambda: estimator(f'{name}:t_min=1e-320,t_max=1e-320'), "t_min must be a number in [1e-06, 1e+06], got 1e-320")
        fails(lambda: estimator(name, t_min=2., t_max=1.), "need t_min <= t_max, got t_min=2.0, t_max=1.0")
        fails(lambda: estimator(name, deterministic='yes'), "deterministic must be True or False")
    fails(lambda: estimator('rbnn', t_floor=-0.5), "t_floor must be a number in [0, 1e+06], got -0.5")
    fails(lambda: estimator('rbnn:t_floor=1e308'), "t_floor must be a number in [0, 1e+06], got 1e+308")
    fails(lambda: estimator('ede', t_floor=1), "valid parameters: noise=logistic, deterministic=False, t_min=0.1, t_max=10.0")


def test_noise_must_match_the_network():
    X, Y = cos_data()
    toy = init_sbn_(SBNMLP([2, 5, 5, 5, 1]), X, seed=0)
    fails(lambda: estimator('st', noise='normal').surrogate(toy, X, Y), "pass noise='logistic'")
    xs, ys = X[::10], Y[::10]
    fails(lambda: estimator('concrete').surrogate(SBNMLP([2, 3, 1], noise='normal'), xs, ys), "pass noise='normal'")


@pytest.mark.parametrize('name', ['st', 'zgr'])   # zgr: a local estimator with its own noise check
def test_surrogate_needs_an_sbn_model(name):
    "A layered model runs its estimator in its forward: a local estimator's surrogate says so, not an AttributeError."
    from sbn_estimators.layers import BinaryActivation
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), BinaryActivation('st'), torch.nn.Linear(8, 3))
    fails(lambda: estimator(name).surrogate(net, torch.randn(5, 4), torch.randint(0, 3, (5,))),
          f"estimator {name!r}: surrogate(net, x, y) needs an SBN model", "got Sequential, missing noise, loss", "loss_fn(net(x), y)")


def test_binary_weights():
    lat = [torch.tensor([-3., 0.4, 2.])]
    fails(lambda: clip_latent_(lat, -1.), "bound must be a positive number, got -1.0")
    fails(lambda: MirrorDescent(lat, lr=0.1, clip=0), "clip must be a positive number or None, got 0")
    fails(lambda: BinaryWeightLinear(2, 2, scale='row'), "valid scales: none, tensor, channel")
    fails(lambda: BinaryWeightLinear(2, 2, deterministic='no'), "deterministic must be")
    fails(lambda: flip_ratio(torch.ones(3), torch.ones(4)), "same shapes")


def test_unbiased_parameters():
    fails(lambda: estimator('reinforce', baseline='mean'), "valid baselines: none, ema, loo, nvil")
    fails(lambda: estimator('reinforce', baseline='loo', n=1), "n must be an integer >= 2")
    fails(lambda: estimator('reinforce:n=true'), "n must be an integer >= 1 for baseline='none', got True")
    fails(lambda: estimator('reinforce:decay=abc'), "decay must be a number in [0, 1), got 'abc'")
    fails(lambda: estimator('reinforce:decay=1'), "decay must be a number in [0, 1), got 1")
    fails(lambda: estimator('reinforce:baseline=nvil,hidden=true'), "hidden must be a positive integer, got True")
    fails(lambda: estimator('reinforce:baseline=nvil,lr=inf'), "lr must be a positive number, got inf")
    fails(lambda: estimator('arms', n=1), "integer n >= 2")
    fails(lambda: dirichlet_copula(1, (3,)), "n must be an integer >= 2")
    fails(lambda: copula_correlation(torch.tensor([0.5]), 1), "n must be an integer >= 2")


def test_relaxed_parameters():
    fails(lambda: estimator('concrete', tau=0), "tau must be a number in [0.001, 1000], got 0")
    fails(lambda: estimator('st_gumbel', tau=-1.), "tau must be a number in [0.001, 1000], got -1.0")
    fails(lambda: estimator('concrete:tau=true'), "tau must be a number in [0.001, 1000], got True")


@pytest.mark.parametrize('spec', ['reinforce:baseline=nvil', 'relax'])
def test_learned_state_is_bound_to_its_network(spec):
    "A learned network of the input refuses, with a ValueError, a network of another input size or dtype than its first one (rodeo: tests/test_rodeo.py)."
    X, Y = cos_data(5)
    est = estimator(spec)
    est.surrogate(SBNMLP([2, 3, 3, 1]), X, Y)
    X3 = torch.cat([X, X[:, :1]], 1)
    fails(lambda: est.surrogate(SBNMLP([3, 4, 3, 1]), X3, Y), "bound to the network", "make a new one")
    fails(lambda: est.surrogate(SBNMLP([2, 3, 3, 1], dtype=torch.float32), X.float(), Y.float()),
          "torch.float32", "new.load_state_dict(old.state_dict())")


@pytest.mark.parametrize('spec', ['reinforce:baseline=nvil', 'rebar', 'relax', 'rodeo'])
def test_learned_state_carries_over_to_another_dtype(spec):
    "Bound to the dtype of its first call (rebar kept float64 scales on float32 data); the message's route carries the state over."
    X, Y = cos_data(5)
    old = estimator(spec)
    old.surrogate(SBNMLP([2, 3, 3, 1]), X, Y)
    net32, X32, Y32 = SBNMLP([2, 3, 3, 1], dtype=torch.float32), X.float(), Y.float()
    fails(lambda: old.surrogate(net32, X32, Y32), "torch.float64", "torch.float32", "new.load_state_dict(old.state_dict())")
    new = estimator(spec)
    new.load_state_dict(old.state_dict())
    assert torch.isfinite(new.surrogate(net32, X32, Y32))


def test_learned_baseline_reads_the_input_detached():
    "reinforce:baseline=nvil trains its baseline on x.detach(): an encoder upstream gets no gradient until backward, which runs once."
    X, Y = cos_data(5)
    torch.manual_seed(0)
    enc = torch.nn.Linear(2, 2, dtype=torch.float64)
    s = estimator('reinforce:baseline=nvil').surrogate(init_sbn_(SBNMLP([2, 3, 3, 1]), X), torch.tanh(enc(X)), Y)
    assert enc.weight.grad is None
    s.backward()
    assert torch.isfinite(enc.weight.grad).all() and enc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('name', ['double_cv', 'rebar', 'relax', 'rodeo', 'ugc'])
def test_input_gradient_and_frozen_parameters(name):
    "The input gets a gradient (checked against exact enumeration in the pages), and a frozen layer gets none without an error."
    X, Y = cos_data(5)
    net = init_sbn_(SBNMLP([2, 3, 3, 1]), X)
    net.layers[0].requires_grad_(False)
    x = X.clone().requires_grad_()
    estimator(name).surrogate(net, x, Y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert [p.grad is None for p in net.parameters()] == [True, True, False, False, False, False]


def test_binary_activation_takes_one_estimator():
    "A spec naming several estimators is refused, as `estimator` refuses it, not cut to its first one."
    from sbn_estimators.layers import BinaryActivation
    for spec in ('st,reste:o=5', 'st,clipped_st'):
        with pytest.raises(ValueError, match="names 2 estimators; give exactly one"): BinaryActivation(spec)
    assert BinaryActivation('reste:o=5').est.name == 'reste'


def test_reste_schedule_epochs():
    "ReSTE's schedule refuses what EDE and RBNN refuse: epochs below 1 and negative epochs (none divides by zero or clamps)."
    from torch import nn
    from sbn_estimators.reste import ReSTE, ReSTESchedule
    model = nn.Sequential(ReSTE())
    for name in ('reste', 'ede', 'rbnn'):
        fails(lambda: estimator(name).on_epoch(model, 0, 0), "epochs must be a positive integer, got 0")
        fails(lambda: estimator(name).on_epoch(model, -1, 5), "epoch must be an integer >= 0, got -1")
    sched = ReSTESchedule(model, epochs=3)
    fails(lambda: sched.load_state_dict({'epoch': 1, 'epochs': 0, 'o_end': 3}), "epochs must be a positive integer, got 0")
    fails(lambda: sched.load_state_dict({'epoch': -1, 'epochs': 3, 'o_end': 3}), "epoch must be an integer >= 0, got -1")
    fails(lambda: sched.load_state_dict({'epoch': 1, 'epochs': 3, 'o_end': 0.5}), "o_end must be >= 1")
    fails(lambda: sched.o_at(-1), "epoch must be an integer >= 0, got -1")
    fails(lambda: ReSTESchedule(model, epochs=3, last_epoch=-2), "epoch must be an integer >= 0, got -2")
    assert sched.state_dict() == {'epoch': 0, 'epochs': 3, 'o_end': 3.0}   # a refused state changes nothing


def test_estimator_name_must_be_a_string():
    fails(lambda: estimator(3), "estimator must be a name or spec string like 'st' or 'reste:o=3', got 3")
    fails(lambda: estimator(' nope '), "unknown estimator 'nope'")


@pytest.mark.parametrize('name', ['rebar', 'relax'])
def test_loaded_state_must_fit_the_network(name):
    "A REBAR/RELAX state tuned on one network and loaded for another is refused with a ValueError at the next call."
    X, Y = cos_data(5)
    est = estimator(name)
    est.surrogate(SBNMLP([2, 3, 3, 1]), X, Y)
    other = estimator(name); other.load_state_dict(est.state_dict())
    fails(lambda: other.surrogate(SBNMLP([2, 3, 1]), X, Y), f"the loaded {name} state does not fit this network")


@pytest.mark.parametrize('spec, other, widths, shapes', [   # the state of `spec` on [2, 3, 3, 1], loaded by `other` for `widths`
    ('rebar', 'rebar', [2, 3, 1], "tuned parameters of shapes [(3,), ()], where this estimator builds [(2,), ()]"),
    ('relax', 'relax:hidden=8', [2, 3, 3, 1], "tuned parameters of shapes [(3,), (), (16, 8), (16,), (1, 16)], where this estimator builds [(3,), (), (8, 8)"),
    ('rodeo', 'rodeo:hidden=8', [2, 3, 3, 1], "control networks of shapes [(16, 2), (16,), (2, 16)"),
    ('reinforce:baseline=nvil', 'reinforce:baseline=nvil', [3, 3, 3, 1], "baseline network of shapes [(16, 2), (16,), (1, 16), (1,)], where this estimator builds [(16, 3)"),
], ids=['rebar', 'relax', 'rodeo', 'nvil'])
def test_a_loaded_state_of_other_sizes_is_refused_and_kept(spec, other, widths, shapes):
    "The shapes that do not fit, as a ValueError (rodeo and nvil raised torch's 'size mismatch'); the loaded state stays as it was."
    X, Y = cos_data(5)
    est = estimator(spec)
    est.surrogate(SBNMLP([2, 3, 3, 1]), X, Y)
    state = est.state_dict()
    twin = estimator(other); twin.load_state_dict(state)
    x = torch.cat([X, X[:, :1]], 1) if widths[0] == 3 else X
    for _ in range(2): fails(lambda: twin.surrogate(SBNMLP(widths), x, Y), f"the loaded {other} state does not fit this network: {shapes}")
    assert _same_state(twin.state_dict(), state)   # equal contents (it holds a copy: load_state_dict shares no tensor with `state`)


def _same_state(a, b):
    "Whether two (nested) states hold the same keys, numbers and tensors."
    if torch.is_tensor(a) or torch.is_tensor(b): return torch.is_tensor(a) and torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, dict): return isinstance(b, dict) and set(a) == set(b) and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)): return type(a) == type(b) and len(a) == len(b) and all(map(_same_state, a, b))
    return a == b


@pytest.mark.parametrize('spec, keys', [('rebar', 'tuned, opt'), ('relax', 'tuned, opt'), ('rodeo', 'nets, alphas, betas, opt'),
                                        ('reinforce:baseline=nvil', 'net, opt'), ('reinforce:baseline=ema', 'ema')])
def test_a_learned_state_must_hold_its_keys(spec, keys):
    "Another dict is refused at load_state_dict, naming the keys (it was a KeyError at the next call, or 'learns nothing' for nvil, ema)."
    est = estimator(spec)
    fails(lambda: est.load_state_dict({'alphas': torch.zeros(2)}), f"{spec}: a learned state holds {keys} (what state_dict() gives) or nothing, got alphas")
    assert est.state_dict() == {}


def test_relaxed_units_take_noise_and_states_of_the_pre_activations_shape():
    "Concrete's, ST-Gumbel's and decoupled ST's z and conditional_noise's x broadcast silently; x in {0, 1} gave Z = 0."
    from sbn_estimators.rebar import conditional_noise
    a = torch.randn(5, 3, dtype=torch.float64)
    for name in ('concrete', 'st_gumbel', 'decoupled_st'):
        for z in (torch.zeros(5, 1), torch.zeros(2, 5, 3)):
            fails(lambda: estimator(name)(a, z.double()), f"z must be noise of a's shape (5, 3), got {tuple(z.shape)}")
    fails(lambda: conditional_noise(a, torch.ones(3, dtype=torch.float64)), "x must have a's shape (5, 3), got (3,)")
    fails(lambda: conditional_noise(a, a.sign(), v=torch.rand(5, 1, dtype=torch.float64)), "v must have a's shape (5, 3), got (5, 1)")
    fails(lambda: conditional_noise(a, (a > 0).double()), "x must be ±1 states, got values 0, 1")
    fails(lambda: conditional_noise(a, a.sign(), 'uniform'), "needs an invertible noise CDF (logistic or normal), got uniform")


def test_per_layer_estimators_take_normal_noise_and_refuse_uniform():
    "ARM, DisARM and ARMS need 0 < F(a) < 1 for every a: logistic and normal noise run, uniform noise is refused."
    import pytest
    from sbn_estimators.sbn import SBNMLP, cos_data
    from sbn_estimators.estimators import estimator
    X5, Y5 = cos_data(5)
    for spec in ('arm', 'disarm', 'arms'):
        estimator(spec).surrogate(SBNMLP([2, 3, 1], noise='normal'), X5, Y5).backward()
        with pytest.raises(ValueError, match='full_support: logistic, normal'): estimator(spec).surrogate(SBNMLP([2, 3, 1], noise='uniform'), X5, Y5)


UNUSED = [   # (spec, what the ValueError says): a parameter that the chosen variant never uses, set to other than its default
    ('reinforce:hidden=64', "reinforce: hidden applies to baseline='nvil' only, got hidden=64 with baseline='none'"),
    ('reinforce:hidden=64,lr=0.5', "reinforce: hidden, lr apply to baseline='nvil' only, got hidden=64, lr=0.5 with baseline='none'"),
    ('reinforce:decay=0.5', "reinforce: decay applies to baseline='ema' only, got decay=0.5 with baseline='none'"),
    ('reinforce:baseline=loo,n=4,decay=0.1', "reinforce: decay applies to baseline='ema' only, got decay=0.1 with baseline='loo'"),
    ('reinforce:baseline=loo,lr=0.1', "reinforce: lr applies to baseline='nvil' only, got lr=0.1 with baseline='loo'"),
    ('reinforce:baseline=ema,hidden=8', "reinforce: hidden applies to baseline='nvil' only, got hidden=8 with baseline='ema'"),
    ('reinforce:baseline=nvil,decay=0.5', "reinforce: decay applies to baseline='ema' only, got decay=0.5 with baseline='nvil'"),
    ('rebar:tune=false,lr=0.9', "rebar: lr applies to tune=True only, got lr=0.9 with tune=False"),
    ('relax:tune=false,lr=0.1', "relax: lr applies to tune=True only, got lr=0.1 with tune=False"),
    ('relax:tune=false,net_lr=0.01', "relax: net_lr applies to tune=True only, got net_lr=0.01 with tune=False"),
    ('relax:tune=false,lr=0.1,net_lr=0.01', "relax: lr, net_lr apply to tune=True only, got lr=0.1, net_lr=0.01 with tune=False"),
    ('rodeo:tune=false,lr=0.1', "rodeo: lr applies to tune=True only, got lr=0.1 with tune=False"),
    ('rodeo:tune=false,n=2,net_lr=0.1', "rodeo: net_lr applies to tune=True only, got net_lr=0.1 with tune=False"),
]
USED = {   # spec: the spec it recreates (parameters that differ from their defaults); each variant with every parameter it uses
    'reinforce': 'reinforce', 'reinforce:n=2': 'reinforce:n=2',
    'reinforce:baseline=ema,decay=0.5,n=2': 'reinforce:baseline=ema,n=2,decay=0.5',
    'reinforce:baseline=loo,n=3': 'reinforce:baseline=loo,n=3',
    'reinforce:baseline=nvil,hidden=8,lr=0.1,n=2': 'reinforce:baseline=nvil,n=2,hidden=8,lr=0.1',
    'reinforce:baseline=nvil,hidden=16,lr=0.01': 'reinforce:baseline=nvil',   # the defaults' values, given where they apply
    'rebar:scale=0.5,tau=0.3,lr=0.1': 'rebar:scale=0.5,tau=0.3,lr=0.1', 'rebar:tune=false,scale=0.5,tau=0.3': 'rebar:scale=0.5,tau=0.3,tune=False',
    'relax:lr=0.1,hidden=8,net_lr=0.01': 'relax:lr=0.1,hidden=8,net_lr=0.01',
    'relax:tune=false,hidden=8': 'relax:tune=False,hidden=8',   # hidden sizes the correction network of a loaded state
    'rodeo:n=2,hidden=8,lr=0.1,net_lr=0.1': 'rodeo:n=2,hidden=8,lr=0.1,net_lr=0.1',
    'rodeo:tune=false,n=2,hidden=8': 'rodeo:n=2,hidden=8,tune=False',   # hidden sizes the control networks of a loaded state
    'reinforce:baseline=loo,n=4,decay=0.9,hidden=16,lr=0.01': 'reinforce:baseline=loo',   # unused parameters at their defaults pass (and n=4 is loo's default)
    'rodeo:tune=false,lr=0.01,net_lr=0.01': 'rodeo:tune=False',
}


def test_parameters_the_variant_does_not_use_are_refused():
    """reinforce's decay without baseline='ema', hidden and lr without 'nvil', and the step sizes of rebar, relax and rodeo with
    tune=False are refused when set to other than their defaults (spec, keyword or class call), naming the parameter, its value and
    the variant; at their defaults they pass, and every parameter a variant uses constructs, with the spec that recreates it."""
    import re
    from sbn_estimators.unbiased import Reinforce
    from sbn_estimators.rebar import REBAR, RELAX
    from sbn_estimators.rodeo import RODEO
    for spec, msg in UNUSED:
        with pytest.raises(ValueError, match=re.escape(msg)): estimator(spec)
    for make, msg in ((lambda: estimator('reinforce', baseline='loo', decay=0.1), "decay applies to baseline='ema' only, got decay=0.1"),
                      (lambda: Reinforce(hidden=8), "hidden applies to baseline='nvil' only, got hidden=8 with baseline='none'"),
                      (lambda: REBAR(tune=False, lr=0.1), "rebar: lr applies to tune=True only, got lr=0.1"),
                      (lambda: RELAX(tune=False, net_lr=1e-3), "relax: net_lr applies to tune=True only, got net_lr=0.001"),
                      (lambda: RODEO(tune=False, lr=0.1, net_lr=0.1), "rodeo: lr, net_lr apply to tune=True only")):
        with pytest.raises(ValueError, match=re.escape(msg)): make()
    for spec, recreated in USED.items():
        e = estimator(spec)
        assert e.spec == recreated and estimator(e.spec).hparams() == e.hparams(), (spec, e.spec)
    assert (Reinforce().decay, Reinforce().hidden, Reinforce().lr) == (0.9, 16, 0.01)   # defaults that baseline='none' does not use
    class Fixed(Reinforce):   # a subclass with arguments of its own: the defaults compared with are Reinforce's
        def __init__(self, n=2): super().__init__(baseline='loo', n=n)
    assert Fixed().n_paths == 2
    assert (REBAR(tune=False).lr, RELAX(tune=False).net_lr, RODEO(tune=False).lr) == (0.05, 0.005, 0.01)
    assert all(type(v) in (str, int, float, bool, type(None)) for e in (Reinforce(), RELAX(), RODEO()) for v in e.hparams().values())
