"""Session 57 (fx2): parameters a run ignores are refused, a re-registered class takes its old names with it, and two inputs
that were taken as something else are refused.

- progressive_sign's alpha and beta did nothing where no schedule runs at scale 0: k = alpha^(beta 0) = 1.
- reinforce with tune=False accepted the update's own decay (ema) and lr (nvil), which nothing then reads.
- A class defined again (a re-run cell) replaced the registration's class but left its other names and aliases behind.
- PairedDropout took p=NaN (failing later in torch) and p=True (as 1).
- mismatch with an odd `samples` used one antithetic pair less than it recorded."""
import pytest
import torch
from sbn_estimators import estimators as E
from sbn_estimators.estimators import estimator, check_schedule_params
from sbn_estimators.train import TrainConfig, train

DIGITS = dict(data='digits', model='sbn_mlp:width=8', epochs=1)


# --- 1. progressive_sign: alpha, beta moot without the schedule at scale 0
@pytest.mark.parametrize('spec,param', [('progressive_sign:alpha=1000000,beta=1000', 'alpha=1000000.0'), ('progressive_sign:alpha=3', 'alpha=3.0'),
                                        ('progressive_sign:beta=2', 'beta=2.0')])
def test_progressive_sign_alpha_beta_refused_without_schedule_at_scale_0(spec, param):
    est = estimator(spec)
    assert est.k == 1.0   # what made them moot
    with pytest.raises(ValueError, match=f"{param} would be ignored"): check_schedule_params(est, False)
    check_schedule_params(est, True)   # the schedule reads them


def test_progressive_sign_alpha_beta_accepted_where_they_act():
    for spec in ('progressive_sign', 'progressive_sign:alpha=4,beta=10', 'progressive_sign:alpha=3,scale=0.5', 'progressive_sign:scale=1'):
        check_schedule_params(estimator(spec), False)
    from sbn_estimators.ede import ProgressiveSign
    class Fixed(ProgressiveSign):   # a subclass that fixes alpha: it was not given
        def __init__(self, noise='logistic', beta=10.): super().__init__(noise, alpha=3., beta=beta)
    check_schedule_params(Fixed(), False)


def test_train_no_est_schedule_refuses_progressive_alpha():
    with pytest.raises(ValueError, match=r"alpha=3\.0 would be ignored"):
        train(TrainConfig(**DIGITS, estimator='progressive_sign:alpha=3', est_schedule=False), smoke=True, progress=False)


def test_gradeval_refuses_progressive_alpha(call):
    from test_gradeval_cli import one_line_error
    one_line_error(call(['--epochs', '0', '--estimators', 'exact,progressive_sign:beta=3', '--samples', '10']), "beta=3.0 would be ignored")


# --- 2. reinforce: the update's own parameters refused with tune=False
@pytest.mark.parametrize('spec,msg', [('reinforce:baseline=ema,tune=False,decay=0.5', "reinforce: decay applies to tune=True only, got decay=0.5 with tune=False"),
                                      ('reinforce:baseline=nvil,tune=False,lr=0.5', "reinforce: lr applies to tune=True only, got lr=0.5 with tune=False")])
def test_reinforce_refuses_update_params_when_frozen(spec, msg):
    with pytest.raises(ValueError, match=msg): estimator(spec)


def test_reinforce_frozen_defaults_and_warmup_still_work():
    for spec in ('reinforce:baseline=ema,tune=False', 'reinforce:baseline=ema,tune=False,decay=0.9', 'reinforce:baseline=nvil,tune=False,lr=0.01,hidden=8',
                 'reinforce:baseline=ema,decay=0.5', 'reinforce:baseline=nvil,lr=0.5'):
        est = estimator(spec)
        assert estimator(est.spec).spec == est.spec
    from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
    from sbn_estimators.gradeval import gradient_report
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    for spec in ('reinforce:baseline=ema,decay=0.5', 'reinforce:baseline=nvil,lr=0.5'):   # warmed up with its tuning, then frozen
        r = gradient_report(net, X[:20], Y[:20], spec, samples=4, chunk=2, warmup=2, Ms=[1], progress=False)
        assert r['estimators'][spec]['spec'] == spec


# --- 3. a class defined again takes its old names and aliases with it
HEAD = "from sbn_estimators.estimators import register_estimator\nfrom sbn_estimators.straight_through import StraightThrough as ST\n"

def _cell(code, ns): exec(compile(HEAD + code, '<cell>', 'exec'), ns); return ns


def test_redefined_class_drops_its_old_names(registries):
    ns = {'__name__': '__main__'}
    _cell("@register_estimator('fx2_my_st', aliases=('fx2_mst',))\nclass FxMyST(ST): pass\n", ns)
    assert {'fx2_my_st', 'fx2_mst'} <= set(E.list_estimators())
    _cell("@register_estimator('fx2_my_st')\nclass FxMyST(ST): pass\n", ns)   # the alias left out
    assert 'fx2_mst' not in E.list_estimators() and E.ESTIMATORS['fx2_my_st'] is ns['FxMyST']
    _cell("@register_estimator('fx2_mst')\nclass FxOther(ST): pass\n", ns)     # the old alias is free again
    assert E.ESTIMATORS['fx2_mst'] is ns['FxOther']
    _cell("@register_estimator('fx2_my_st2')\nclass FxMyST(ST): pass\n", ns)   # renamed: none of the old names taken, another estimator
    assert E.ESTIMATORS['fx2_my_st2'] is ns['FxMyST'] and E.ESTIMATORS['fx2_my_st'] is not ns['FxMyST']


def test_redefined_class_keeps_what_others_hold(registries):
    ns = {'__name__': '__main__'}
    _cell("@register_estimator('fx2_a', aliases=('fx2_aa',))\nclass FxA(ST): pass\n@register_estimator('fx2_b', aliases=('fx2_bb',))\nclass FxB(ST): pass\n", ns)
    _cell("@register_estimator('fx2_a')\nclass FxA(ST): pass\n", ns)
    assert E.ESTIMATORS['fx2_b'] is ns['FxB'] and E.ALIASES['fx2_bb'] == 'fx2_b' and 'fx2_aa' not in E.ALIASES
    with pytest.raises(ValueError, match='already registered'): _cell("@register_estimator('fx2_bb')\nclass FxC(ST): pass\n", ns)
    assert E.estimator('st').name == 'st' and 'dst' in E.list_estimators()   # the library's own untouched


# --- 4. PairedDropout's p
@pytest.mark.parametrize('bad', [float('nan'), True, 1.5, -0.1, '0.5'])
def test_paired_dropout_refuses_bad_p(bad):
    from sbn_estimators.binaryduo import PairedDropout
    with pytest.raises(ValueError, match=r"dropout probability p must be a number in \[0, 1\], got " + repr(bad).replace('.', r'\.')):
        PairedDropout(bad)


def test_paired_dropout_takes_numbers():
    from sbn_estimators.binaryduo import PairedDropout
    assert PairedDropout(0).p == 0 and PairedDropout(1).p == 1 and PairedDropout(0.25).p == 0.25


# --- 5. mismatch's samples must be even
def test_mismatch_refuses_odd_samples():
    from test_mismatch import binary_net
    from sbn_estimators.mismatch import mismatch
    net, x, y = binary_net()
    for bad in (3, 5, 401):
        with pytest.raises(ValueError, match=rf"samples must be an even integer >= 2 \(two halves of samples / 2 antithetic pairs\), got {bad}"):
            mismatch(net, x, y, samples=bad, names=['0.weight'])
    assert mismatch(net, x, y, samples=4, names=['0.weight'])['samples'] == 4


def test_a_factorys_classes_all_stay_registered(registries):
    "Review s57 (today's change): classes made by one factory share module and qualname; each registers under its own name."
    from sbn_estimators.straight_through import StraightThrough
    def make(name, c):
        @E.register_estimator(name)
        class Scaled(StraightThrough): scale_ = c
        return Scaled
    a, b = make('fx2_st_half', .5), make('fx2_st_twice', 2.)
    assert E.ESTIMATORS['fx2_st_half'] is a and E.ESTIMATORS['fx2_st_twice'] is b
    assert type(E.estimator('fx2_st_half')) is a
    assert make('fx2_st_half', .5) is E.ESTIMATORS['fx2_st_half'] and E.ESTIMATORS['fx2_st_twice'] is b   # its own name again: replaced
