"Bop (nbs/20_binary_optimizers.ipynb): a flip always changes the deployed sign, a zero latent included (negating it gives -0, which still deploys +1)."
import torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, binary_param_groups
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.straight_through import sign_pm

torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared CPU

def test_zero_latent_flips_and_flips_back():
    "Zero latents (+0 and -0) deploy +1; a consistent positive gradient flips them to -1 for good, a negative one back to +1."
    w = nn.Parameter(torch.tensor([0., -0.]))
    opt = Bop([{'params': [w], 'binary': True}], threshold=1e-3, gamma=0.1)
    signs = []
    for _ in range(50):
        w.grad = torch.ones(2); opt.step(); signs.append(sign_pm(w.detach()))
    assert all(torch.equal(s, torch.tensor([-1., -1.])) for s in signs), signs[:4]
    assert w.detach().abs().max() < 1e-30   # the magnitude is kept: 0 in effect
    for _ in range(50):
        w.grad = -torch.ones(2); opt.step()
    assert torch.equal(sign_pm(w.detach()), torch.tensor([1., 1.]))

def test_zero_initialised_layer_learns():
    "A BinaryWeightLinear started at zero latents, loss = sum of its outputs on positive inputs: Bop turns every weight to -1."
    torch.manual_seed(0)
    layer = BinaryWeightLinear(4, 1, bias=False)
    with torch.no_grad(): layer.weight.zero_()
    opt = Bop(binary_param_groups(layer), threshold=1e-3, gamma=0.1)
    x = torch.rand(32, 4) + 0.1
    for _ in range(20):
        opt.zero_grad(); layer(x).sum().backward(); opt.step()
    assert torch.equal(layer.signs(), -torch.ones(1, 4))


def test_bop_and_bayesbinn_refuse_sampled_binary_weights():
    "Both step the latent as the ±1 weight itself: a layer that forwards a Bernoulli sample of its weights is refused, a deterministic one trains."
    import pytest
    from sbn_estimators.train import TrainConfig, make_optimizer
    for opt in ('bop', 'bayesbinn'):
        cfg = TrainConfig(optimizer=opt, lr=1e-3)
        make_optimizer(nn.Sequential(BinaryWeightLinear(4, 3)), cfg, 100)
        with pytest.raises(ValueError, match=rf"optimizer '{opt}' treats each latent binary weight as its sign, but layer '0' forwards a Bernoulli sample"):
            make_optimizer(nn.Sequential(BinaryWeightLinear(4, 3, deterministic=False)), cfg, 100)


def test_bop_refuses_a_non_finite_gradient_before_any_change():
    "A nan or inf gradient of a binary weight would make m non-finite and freeze the weight: refused, with nothing stepped."
    import pytest
    for bad in (float('nan'), float('inf')):
        a, w = nn.Parameter(torch.tensor([1., -1.])), nn.Parameter(torch.ones(2, 2))
        real = nn.Parameter(torch.ones(3))
        opt = Bop([{'params': [real], 'binary': False}, {'params': [a, w], 'binary': True}], threshold=0.1, gamma=1.0)
        a.grad, real.grad = torch.ones(2), torch.ones(3)
        w.grad = torch.tensor([[0., bad], [0., 0.]])
        with pytest.raises(ValueError, match=r"bop: the gradient of binary parameter 1 of param group 1 \(shape \[2, 2\]\) is not finite"):
            opt.step()
        assert torch.equal(a.detach(), torch.tensor([1., -1.])) and torch.equal(real.detach(), torch.ones(3)) and not opt.state
        w.grad = torch.ones(2, 2); opt.step()   # the next finite step flips
        assert torch.equal(sign_pm(w.detach()), -torch.ones(2, 2)) and torch.isfinite(opt.state[w]['m']).all()


def test_bayesbinn_checks_its_hyper_parameters_in_the_weights_dtype():
    "Values finite as floats but inf or 0 in float32 gave NaN lambdas: refused for float32 weights, taken for float64 ones."
    import pytest, re
    from sbn_estimators.binary_optimizers import BayesBiNN
    for kw, msg in ((dict(init_lambda=1e300), "init_lambda of param group 0 must be finite in torch.float32, the dtype of lambda, got 1e+300"),
                    (dict(prior_lambda=-1e300), "prior_lambda of param group 0 must be finite in torch.float32"),
                    (dict(temperature=1e-40), "temperature of param group 0 (1e-40) and scale_eps (1e-10) are too small for torch.float32"),
                    (dict(scale_eps=1e-50), "and scale_eps (1e-50) are too small for torch.float32")):
        with pytest.raises(ValueError, match=re.escape(msg)):
            BayesBiNN([{'params': [nn.Parameter(torch.tensor([0.3, -0.2]))], 'binary': True}], train_size=10, **kw)
        opt = BayesBiNN([{'params': [nn.Parameter(torch.zeros(1))], 'binary': True}], train_size=10)
        with pytest.raises(ValueError, match='of param group 1'):
            opt.add_param_group({'params': [nn.Parameter(torch.zeros(2))], 'binary': True, **kw})
        assert len(opt.param_groups) == 1
        w = nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.float64))
        opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=10, **kw)
        for g in ([0.1, 0.1], [-0.1, 0.1]):
            w.grad = torch.tensor(g, dtype=torch.float64); opt.step()
        assert torch.isfinite(opt.state[w]['lambda']).all() and torch.isfinite(w).all()
