"Review s60, fixes V: schedule-only parameters of proxy specs refused; RBNN's moot t_min/t_floor; ReSTE indicator hooks on copies and pickles; ReSTESchedule's o_end from the modules; Adam flags the optimizers do not implement."
import copy, pickle, pytest, torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, BayesBiNN, MirrorDescentAdam, binary_param_groups
from sbn_estimators.binary_weights import BinaryWeightLinear

def _groups(flag, value):
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(3, 2), nn.Linear(2, 1))
    b, r = binary_param_groups(net)
    return [b, {**r, flag: value}]

@pytest.mark.parametrize("make", [lambda g: Bop(g), lambda g: BayesBiNN(g, train_size=10), lambda g: MirrorDescentAdam(g, lr=0.1)])
@pytest.mark.parametrize("flag", ['maximize', 'amsgrad'])
def test_adam_flags_not_implemented_are_refused(make, flag):
    with pytest.raises(ValueError, match=f"{flag} of param group 1 set"): make(_groups(flag, True))
    make(_groups(flag, False))   # the default value is accepted


# 1. a proxy spec's parameter that only a schedule reads: refused (no schedule runs on a proxy), as sbn-gradeval refuses it
def _binary_net():
    from sbn_estimators.layers import BinaryActivation
    from sbn_estimators.mismatch import proxy_estimator
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(6, 3))
    return net, torch.randn(16, 8, generator=g), torch.randint(0, 3, (16,), generator=g)

@pytest.mark.parametrize("spec,param", [('ede:t_max=5', 't_max=5.0'), ('ede:t_max=1000', 't_max=1000.0'), ('rbnn:t_max=3', 't_max=3.0')])
def test_mismatch_and_set_proxy_refuse_a_schedule_only_parameter(spec, param):
    from sbn_estimators.mismatch import mismatch, set_proxy
    net, x, y = _binary_net()
    with pytest.raises(ValueError, match=f"{param} would be ignored"): mismatch(net, x, y, proxies=[spec], samples=4)
    with pytest.raises(ValueError, match=f"{param} would be ignored"): set_proxy(net, spec)
    assert net[2].est.name == 'clipped_st'   # refused before any unit changed

def test_quantize_proxy_takes_progressive_sign_gain_at_scale_0():
    "s61: a Quantize's backward proxy is scheduled in training as the units' estimators are, so its spec is taken as the instance is (was: refused)."
    from sbn_estimators.binaryduo import Quantize
    from sbn_estimators.estimators import estimator
    assert Quantize(1, proxy='progressive_sign:alpha=50,beta=3').proxy.hparams() == Quantize(1, proxy=estimator('progressive_sign:alpha=50,beta=3')).proxy.hparams()
    Quantize(1, proxy='progressive_sign:alpha=50,beta=3,scale=0.5')   # a point where alpha and beta act

def test_points_of_a_schedule_and_instances_are_accepted():
    from sbn_estimators.ede import EDE
    from sbn_estimators.mismatch import mismatch
    net, x, y = _binary_net()
    r = mismatch(net, x, y, proxies=['ede:t_min=5,t_max=5', 'ede', EDE(t_max=5)], samples=4, names=['3.weight'])
    assert len(r['cos']) == 3


# 2. RBNN's floor t = max(t, t_floor) makes a t_min at or below it moot without the schedule, and itself moot at or below t_min with it (s61: and without it)
@pytest.mark.parametrize("spec,scheduled,param", [('rbnn:t_min=0.5,t_floor=1', False, 't_min=0.5'), ('rbnn:t_min=1,t_floor=1', False, 't_min=1.0'),
                                                  ('rbnn:t_min=2,t_floor=1', True, 't_floor=1.0'), ('rbnn:t_min=1,t_floor=1', True, 't_floor=1.0'),
                                                  ('rbnn:t_min=2,t_floor=1', False, 't_floor=1.0')])   # s61: the floor at or below t_min is moot without the schedule too
def test_rbnn_moot_t_min_or_t_floor_is_refused(spec, scheduled, param):
    from sbn_estimators.estimators import estimator, check_schedule_params
    with pytest.raises(ValueError, match=f"{param} would be ignored"): check_schedule_params(estimator(spec), scheduled)

@pytest.mark.parametrize("spec,scheduled", [('rbnn:t_floor=1', False), ('rbnn:t_floor=1', True), ('rbnn:t_min=0.5,t_floor=1', True),
                                            ('rbnn:t_min=0.5,t_max=3,t_floor=1', True), ('rbnn:t_min=1,t_max=1', False), ('rbnn', True)])
def test_rbnn_floor_that_acts_is_accepted(spec, scheduled):
    from sbn_estimators.estimators import estimator, check_schedule_params
    check_schedule_params(estimator(spec), scheduled)

def test_rbnn_unscheduled_floor_gives_the_same_numbers_as_the_point():
    "Why t_min=0.5 with t_floor=1 is moot: it measures at t = 1, as rbnn:t_min=1,t_max=1 does."
    from sbn_estimators.estimators import estimator
    assert estimator('rbnn:t_min=0.5,t_floor=1').t == estimator('rbnn:t_min=1,t_max=1').t == 1.

def test_gradeval_refuses_rbnn_t_min_under_the_floor():
    from sbn_estimators.gradeval import _from_spec
    with pytest.raises(ValueError, match="t_min=0.5 would be ignored"): _from_spec('rbnn:t_min=0.5,t_floor=1')


# 3. ReSTEIndicators' hooks: a deepcopy (a best-model snapshot) records nothing into the live indicators; the model pickles
def _reste_net():
    from sbn_estimators.layers import BinaryActivation
    from sbn_estimators.reste import ReSTE
    from sbn_estimators.binary_weights import BinaryWeightLinear
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), BinaryActivation(ReSTE(deterministic=True)),
                         BinaryWeightLinear(6, 2, scale='tensor', binarize=ReSTE(deterministic=True)))

def test_a_copy_of_the_model_records_nothing_into_the_indicators():
    from sbn_estimators.reste import ReSTEIndicators
    net = _reste_net(); ind = ReSTEIndicators(net)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    net(x).sum().backward()
    before = list(ind.compute())
    snap = copy.deepcopy(net)
    snap(x).sum().backward()   # the snapshot runs: the live indicators do not change
    assert list(ind.compute()) == before and len(before) == 2
    net(x)
    assert len(ind.records) == 4   # the live model still records
    own = ReSTEIndicators(snap); snap(x)
    assert len(own.records) == 2 and len(ind.records) == 4   # a copy measured with indicators of its own
    ind.remove(); own.remove()

def test_a_model_with_indicators_pickles_and_saves(tmp_path):
    from sbn_estimators.reste import ReSTEIndicators
    net = _reste_net(); ind = ReSTEIndicators(net)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    net(x).sum()   # a pending gradient hook on the latent weight too
    back = pickle.loads(pickle.dumps(net))
    torch.save(net, tmp_path / 'm.pt'); loaded = torch.load(tmp_path / 'm.pt', weights_only=False)
    n = len(ind.records)
    want = net(x)
    for m in (back, loaded): torch.testing.assert_close(m(x), want)
    assert len(ind.records) == n + 2   # only the live model's own call (2 units) was recorded
    ind.remove()


# 4. ReSTESchedule ends at the modules' own o (o_end None), as the trainer's schedule does, not at a fixed 3
def test_reste_schedule_ends_at_the_modules_own_o():
    from sbn_estimators.estimators import estimator
    from sbn_estimators.reste import ReSTE, ReSTESchedule
    model = nn.Sequential(nn.Linear(2, 2), estimator('reste:o=5'), ReSTE(o=5, deterministic=True))
    sched = ReSTESchedule(model, epochs=4)
    assert sched.o_end == 5. and model[1].o == 1.
    for _ in range(4): sched.step()
    assert model[1].o == model[2].o == 5. and model[1].o_end == 5.
    twin = nn.Sequential(estimator('reste:o=5')); twin[0].on_epoch(twin, 3, 4)
    assert ReSTESchedule(nn.Sequential(estimator('reste:o=5')), epochs=4, last_epoch=3).o == twin[0].o   # the trainer's o at each epoch
    assert ReSTESchedule(model, epochs=4, o_end=2).o_end == 2.   # given: it wins

def test_reste_schedule_refuses_modules_that_disagree():
    from sbn_estimators.reste import ReSTE, ReSTESchedule
    model = nn.Sequential(ReSTE(o=3), ReSTE(o=5))
    with pytest.raises(ValueError, match=r"o_end=None .* differ \(3.0, 5.0\): give o_end"): ReSTESchedule(model, epochs=4)
    assert [m.o for m in model] == [3., 5.]   # refused before any module changed
    ReSTESchedule(model, epochs=4, o_end=4)
