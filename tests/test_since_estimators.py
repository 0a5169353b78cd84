"Argument validation of the estimators published since the seed papers (gumbel_family, control_variates, ede: EDE, RBNN and progressive sign) and the binary-weight optimizers."
import pytest, torch
from torch import nn
from sbn_estimators.sbn import SBNMLP, cos_data
from sbn_estimators.gumbel_family import DARN, ZGR, ReinMax, GST, GumbelRao, DecoupledST
from sbn_estimators.control_variates import DoubleCV, UGC
from sbn_estimators.ede import EDE, ede_t, RBNN, rbnn_t
from sbn_estimators.estimators import estimator, list_estimators
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.binary_optimizers import Bop, BayesBiNN


@pytest.mark.parametrize('make, msg', [
    (lambda: ReinMax(tau=0), 'tau must be a number in \\[0.001, 1000\\]'),
    (lambda: ReinMax(tau=float('inf')), 'tau must be a number in \\[0.001, 1000\\]'),
    (lambda: GST(tau=-1.), 'tau must be a number in \\[0.001, 1000\\]'),
    (lambda: GST(gap=-0.5), 'gap must be a finite number >= 0'),
    (lambda: GST(gap=True), 'gap must be a finite number >= 0'),
    (lambda: GumbelRao(k=0), 'k must be a positive integer'),
    (lambda: GumbelRao(k=2.5), 'k must be a positive integer'),
    (lambda: GumbelRao(tau='1'), 'tau must be a number in \\[0.001, 1000\\]'),
    (lambda: DecoupledST(tau_forward=0), 'tau_forward must be a number in \\[0.001, 1000\\]'),
    (lambda: DecoupledST(tau_backward=-2), 'tau_backward must be a number in \\[0.001, 1000\\]'),
    (lambda: DoubleCV(n=1), 'n must be an integer >= 2'),
    (lambda: DoubleCV(n=True), 'n must be an integer >= 2'),
    (lambda: EDE(t_min=0), r't_min must be a number in \[1e-06, 1e\+06\], got 0'),
    (lambda: EDE(t_min=1e-320, t_max=1e-320), r't_min must be a number in \[1e-06, 1e\+06\], got 1e-320'),
    (lambda: EDE(t_max=1e7), r't_max must be a number in \[1e-06, 1e\+06\], got 10000000.0'),
    (lambda: EDE(t_min=5., t_max=1.), 'need t_min <= t_max'),
    (lambda: ede_t(3, 0), 'epochs must be a positive integer'),
    (lambda: ede_t(-1, 10), 'epoch must be an integer >= 0'),
    (lambda: ede_t(0, 10, t_min=0), r't_min must be a number in \[1e-06, 1e\+06\]'),
    (lambda: RBNN(t_min=0), r't_min must be a number in \[1e-06, 1e\+06\]'),
    (lambda: RBNN(t_max=float('nan')), r't_max must be a number in \[1e-06, 1e\+06\], got nan'),
    (lambda: RBNN(t_min=5., t_max=1.), 'need t_min <= t_max'),
    (lambda: RBNN(t_floor=-1.), r't_floor must be a number in \[0, 1e\+06\], got -1.0'),
    (lambda: RBNN(t_floor=True), r't_floor must be a number in \[0, 1e\+06\], got True'),
    (lambda: estimator('rbnn:t_floor=inf'), r't_floor must be a number in \[0, 1e\+06\], got inf'),
    (lambda: estimator('rbnn:t_floor=1e308'), r't_floor must be a number in \[0, 1e\+06\], got 1e\+308'),
    (lambda: estimator('rbnn:tau=1'), "estimator 'rbnn' has no parameter tau"),
    (lambda: rbnn_t(3, 0), 'epochs must be a positive integer'),
    (lambda: rbnn_t(-1, 10), 'epoch must be an integer >= 0'),
    (lambda: rbnn_t(0, 10, t_min=20.), 'need t_min <= t_max'),
])
def test_bad_parameters(make, msg):
    with pytest.raises(ValueError, match=msg): make()


@pytest.mark.parametrize('est', [DARN(), ZGR(), ReinMax(), GST(), GumbelRao(), DecoupledST()])
def test_categorical_estimators_need_logistic_noise(est):
    X, Y = cos_data(5)
    with pytest.raises(ValueError, match='needs logistic noise; the network has normal noise'):
        est.surrogate(SBNMLP([2, 3, 1], noise='normal'), X, Y)


@pytest.mark.parametrize('est', [DoubleCV(), UGC()])
def test_network_estimators_run_and_fill_every_gradient(est):
    torch.manual_seed(0)
    X, Y = cos_data(5)
    net = SBNMLP([2, 3, 3, 1])
    est.surrogate(net, X, Y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert all(p.grad.abs().max() > 0 for p in net.parameters()), 'a parameter got no gradient'


def test_ugc_refuses_bounded_noise():
    X, Y = cos_data(5)
    with pytest.raises(ValueError, match='full_support: logistic, normal'):
        UGC().surrogate(SBNMLP([2, 3, 1], noise='uniform'), X, Y)


@pytest.mark.parametrize('make, msg', [
    (lambda p: Bop(p, threshold=0), 'threshold must be a positive number'),
    (lambda p: Bop(p, gamma=0), 'gamma must be in'),
    (lambda p: Bop(p, gamma=1.5), 'gamma must be in'),
    (lambda p: BayesBiNN(p, lr=0, train_size=10), 'lr must be a positive number'),
    (lambda p: BayesBiNN(p, train_size=0), 'train_size must be a positive integer'),
    (lambda p: BayesBiNN(p, train_size=10, temperature=0), 'temperature must be a positive number'),
    (lambda p: BayesBiNN(p, train_size=10, beta=1.0), 'beta must be in'),
    (lambda p: BayesBiNN(p, train_size=10, scale_eps=0.), r'scale_eps of param group 0 must be in \(0, 1\]'),
])
def test_optimizer_parameters(make, msg):
    with pytest.raises(ValueError, match=msg): make([nn.Parameter(torch.zeros(3))])


@pytest.mark.parametrize('est', [DARN(), ZGR(), ReinMax(tau=0.5), GST(), GumbelRao(k=3), DecoupledST(), EDE(), RBNN(), DoubleCV(), UGC()],
                         ids=lambda e: e.spec)
def test_float32_batched_parameters(est):
    "Every estimator runs on a float32 network with batched parameters (as draw_estimates uses) and fills every copy's gradient."
    torch.manual_seed(0)
    X, Y = cos_data(5, dtype=torch.float32)
    net = SBNMLP([2, 3, 3, 1], dtype=torch.float32)
    params = net.sample_params(4)
    est.surrogate(net, X, Y, params).backward()
    for W, b in params:
        assert W.grad.dtype == torch.float32 and W.grad.shape[0] == 4 and torch.isfinite(W.grad).all() and torch.isfinite(b.grad).all()
        assert (W.grad.flatten(1).abs().amax(1) > 0).all() and (b.grad.abs().amax(1) > 0).all(), 'a copy got no gradient'
        assert not torch.equal(W.grad[0], W.grad[1])   # equal copies, independent draws


def test_ede_schedule_reaches_model_modules():
    est, model = EDE(), nn.Sequential(nn.Linear(2, 2), EDE(deterministic=True))
    est.on_epoch(model, 9, 9)
    assert est.t == model[1].t == pytest.approx(10.) and est.k == model[1].k == 1.


def test_rbnn_is_registered_with_its_parameters():
    assert 'rbnn' in list_estimators()
    est = estimator('rbnn:t_min=0.1,t_max=5,t_floor=1,deterministic=true')
    assert isinstance(est, RBNN) and est.deterministic and (est.t_min, est.t_max, est.t_floor) == (0.1, 5., 1.)
    assert (est.t, est.k) == (1., 1.)   # t_min = 0.1 floored at 1
    assert estimator(est.spec).hparams() == est.hparams()
    from sbn_estimators.models import compatible_models
    assert compatible_models('rbnn') == compatible_models('ede')   # SBN and layered (BNN) models, like EDE
    a = torch.tensor([-0.5, 0., 0.3], requires_grad=True)
    est(a).sum().backward()
    assert torch.allclose(a.grad, (2 ** .5 - a.detach().abs()).clamp(min=0))


def test_rbnn_schedule_reaches_every_rbnn_module():
    est = RBNN()
    model = nn.Sequential(BinaryWeightLinear(2, 3, binarize=RBNN(deterministic=True)), RBNN(), RBNN(t_floor=1.), nn.Linear(3, 1))
    est.on_epoch(model, 0, 150)
    assert est.t == model[0].binarize.t == model[1].t == 0.01 and est.k == model[0].binarize.k == model[1].k == 100.
    assert (model[2].t, model[2].k) == (1., 1.)
    est.on_epoch(model, 140, 150)
    t = rbnn_t(140, 150)
    assert t > 1 and all((m.t, m.k) == (t, 1.) for m in (est, model[0].binarize, model[1], model[2]))
    est.on_epoch(model, 150, 150)
    assert model[1].t == pytest.approx(10.)


def test_progressive_sign_schedule_in_a_training_run(monkeypatch):
    "sbn-train's schedule hook sets bitorch's s = epoch/epochs before every epoch; the run's loss stays finite."
    from sbn_estimators.ede import ProgressiveSign
    from sbn_estimators.train import TrainConfig, train
    real, seen = ProgressiveSign.on_epoch, []
    def spy(self, model, epoch, epochs): real(self, model, epoch, epochs); seen.append((self.s, self.k))
    monkeypatch.setattr(ProgressiveSign, 'on_epoch', spy)
    torch.manual_seed(0)
    res = train(TrainConfig(model='sbn_mlp:width=16', estimator='progressive_sign', epochs=4, eval_samples=1), progress=False)
    assert seen == [(s, 4. ** (10 * s)) for s in (0., 0.25, 0.5, 0.75)]
    assert all(torch.isfinite(torch.tensor(v)) for v in res.values() if isinstance(v, float))


def test_progressive_sign_schedule_reaches_weight_binarizers():
    from sbn_estimators.ede import ProgressiveSign
    est = estimator('progressive_sign:alpha=2,beta=4')
    model = nn.Sequential(BinaryWeightLinear(2, 3, binarize=ProgressiveSign(alpha=2., beta=4.)), ProgressiveSign(alpha=2., beta=4.), nn.Linear(3, 1))
    est.on_epoch(model, 3, 4)
    assert est.s == model[0].binarize.s == model[1].s == 0.75 and est.k == model[1].k == 2. ** 3
    w = model[0].weight
    y = model[0].binarize(w)
    assert torch.equal(y, (8 * w.detach()).clamp(-1, 1))
    y.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))   # bitorch's identity backward, for weights too
