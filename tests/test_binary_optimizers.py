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
