"""Review s56 (fix h3): an evaluated `BinaryActivation` keeps its estimator's backward when a gradient is taken (saliency,
FGSM, fine-tuning with frozen batch norm), with the evaluation's values and random stream unchanged; `psa`, `psa_loss`,
`psa_expectation` and `muprop` refuse `torch.func` transforms with a `ValueError` instead of torch's internal errors;
exact enumeration refuses a loss that reduces over the examples (as st, psa and psa_expectation do)."""
import pytest, torch
import torch.nn.functional as F
from torch import nn
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.estimators import estimator, estimators_from_spec
from sbn_estimators.layers import BinaryActivation, binary_eval_mode
from sbn_estimators.models import get_model
from sbn_estimators.mismatch import module_loss
from sbn_estimators.exact import exact_loss
from sbn_estimators.gradeval import draw_estimates
from sbn_estimators.psa import psa_loss, psa_expectation
import sbn_estimators.unbiased, sbn_estimators.adf   # registers muprop, arm, adf


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)


# ---- 1. evaluation keeps the estimator's backward

def test_eval_input_gradient_det_model():
    torch.manual_seed(0)
    m = get_model('fmnist_bnn_conv', 'st:deterministic=True', in_shape=(1, 28, 28))
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    m.eval(); m(x)[:, 3].sum().backward()
    assert x.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in m.named_parameters() if not n.startswith(('0.', 'features.0')))


def test_eval_sample_model_has_gradient():
    torch.manual_seed(0)
    m = get_model('fmnist_bnn_conv', 'st', in_shape=(1, 28, 28))
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    m.eval(); out = m(x)
    assert out.requires_grad
    out[:, 3].sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize('spec', ['st:deterministic=True', 'clipped_st:deterministic=True', 'mean_field', 'progressive_sign', 'approx_sign:deterministic=True'])
def test_eval_backward_is_training_backward(spec):
    "A deterministic-backward estimator: the evaluated unit's gradient is the training forward's derivative at a."
    a = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64, requires_grad=True)
    act = BinaryActivation(spec, eval_mode='det')
    g_train, = torch.autograd.grad(act.train()(a).sum(), a)
    out = act.eval()(a)
    assert torch.equal(out.detach(), torch.where(a.detach() >= 0, 1., -1.).double())
    g_eval, = torch.autograd.grad(out.sum(), a)
    torch.testing.assert_close(g_eval, g_train)
    assert g_eval.abs().sum() > 0


@pytest.mark.parametrize('spec', ['st', 'concrete', 'decoupled_st:tau_forward=3', 'zgr'])
def test_eval_sample_values_and_rng_unchanged(spec):
    "With a gradient, 'sample' evaluation gives the states and leaves the random stream exactly as without one."
    act = BinaryActivation(spec, eval_mode='sample').eval()
    a = torch.randn(64, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(5); out = act(a); after = torch.rand(3)
    torch.manual_seed(5)
    with torch.no_grad(): ref = act(a)
    assert torch.equal(out.detach(), ref) and torch.equal(after, torch.rand(3))
    g, = torch.autograd.grad(out.sum(), a)
    assert g.abs().sum() > 0


def test_eval_model_sample_outputs_same_with_and_without_grad():
    m = nn.Sequential(nn.Linear(6, 8), BinaryActivation('st'), nn.Linear(8, 8), BinaryActivation('st'), nn.Linear(8, 3)).double().eval()
    x = torch.randn(4, 6, dtype=torch.float64)
    torch.manual_seed(1); with_grad = m(x)
    torch.manual_seed(1)
    with torch.no_grad(): without = m(x)
    assert with_grad.requires_grad and torch.equal(with_grad.detach(), without)


def test_module_loss_with_grad_enabled_stochastic_unit():
    "vmap refuses random draws: a stochastic estimator's backward is not run there (module_loss works with gradients enabled)."
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), BinaryActivation('st', eval_mode='det'), nn.Linear(5, 3)).eval()
    xx, yy = torch.randn(6, 4), torch.randint(0, 3, (6,))
    f = module_loss(net, xx, yy, ['2.weight'])
    out = f([torch.stack([net[2].weight.detach()] * 2)])
    with torch.no_grad(): ref = F.cross_entropy(net(xx), yy)
    torch.testing.assert_close(out, ref.expand(2))


# ---- 2. torch.func transforms refused with a ValueError

def _toy():
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 4, 1], loss='logistic')
    X = torch.randn(5, 3, dtype=torch.float64); Y = torch.randint(0, 2, (5, 1)).double() * 2 - 1
    P = [tuple(t.detach() for t in pair) for pair in net.layer_params()]
    return net, X, Y, P


@pytest.mark.parametrize('name', ['psa', 'muprop'])
def test_func_grad_refused(name):
    net, X, Y, P = _toy()
    e = estimators_from_spec(name)[0]
    fails(lambda: torch.func.grad(lambda p: e.surrogate(net, X, Y, params=p))(P), "cannot run inside a torch.func transform")
    fails(lambda: torch.func.vmap(lambda xx: e.surrogate(net, xx[None], Y[:1]), randomness='different')(X), "torch.autograd.grad")
    e.surrogate(net, X, Y).backward()   # the way that works


@pytest.mark.parametrize('f', [psa_loss, psa_expectation])
def test_func_grad_refused_psa_functions(f):
    net, X, Y, P = _toy()
    fails(lambda: torch.func.grad(lambda p: f(net, X, Y, p).sum())(P), "cannot run inside a torch.func transform")


@pytest.mark.parametrize('name', ['arm', 'st', 'reinforce'])
def test_func_grad_others_still_work(name):
    net, X, Y, P = _toy()
    e = estimators_from_spec(name)[0]
    torch.func.grad(lambda p: e.surrogate(net, X, Y, params=p))(P)


# ---- 3. exact enumeration refuses a loss reduced over the examples

def test_exact_refuses_batch_reducing_loss():
    torch.manual_seed(0)
    X = torch.randn(5, 3, dtype=torch.float64); Y = torch.randint(0, 2, (5, 1)).double() * 2 - 1
    batch_mean = lambda eta, y: F.softplus(-y * eta).mean(-2)
    net = SBNMLP([3, 4, 1], loss=batch_mean)
    fails(lambda: exact_loss(net, X, Y), "loss must return one value per example")
    fails(lambda: draw_estimates(net, X, Y, estimator('exact'), 1), "loss must return one value per example")
    per = SBNMLP([3, 4, 1], loss=lambda eta, y: F.softplus(-y * eta).sum(-1)); per.load_state_dict(net.state_dict())
    ref = SBNMLP([3, 4, 1], loss='logistic'); ref.load_state_dict(net.state_dict())
    torch.testing.assert_close(exact_loss(per, X, Y), exact_loss(ref, X, Y))   # a per-example loss as before
    torch.testing.assert_close(exact_loss(net, X[:1], Y[:1]), exact_loss(per, X[:1], Y[:1]))   # one example: the same loss
