"Review s46, fix P: local_reparam/adf and BayesBiNN draw their noise in index order (torch.randn/rand of the shape, not *_like), so a channels_last input or parameter gives the draws of its contiguous copy under the same seed; psa's gradient is not twice differentiable: a backward under create_graph raises (eager, compiled, chunked psa_expectation) instead of returning a wrong Hessian."
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.adf import adf_moments
from sbn_estimators.binary_weights import BinaryWeightConv2d
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups

torch.set_num_threads(1)
CL = torch.channels_last


# 1. local_reparam / adf: the draws do not follow the input's memory layout

def conv_net():
    torch.manual_seed(0)
    net = SBNConvNet((2, 5, 5), [(2, 3, 1, 0), (2, 2, 1, 0)], 2, dtype=torch.float64)
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    return net, x, torch.tensor([0, 1, 0, 1])


@pytest.mark.parametrize('name', ['local_reparam', 'adf'])
def test_adf_draws_ignore_channels_last(name):
    net, x, y = conv_net()
    out = []
    for xx in (x, x.contiguous(memory_format=CL)):
        torch.manual_seed(3); out.append(estimator(name).surrogate(net, xx, y))
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)   # local_reparam was 0.5752 vs 0.5047


def test_adf_moments_sample_ignores_channels_last():
    net, x, _ = conv_net()
    out = []
    for xx in (x, x.contiguous(memory_format=CL)):
        torch.manual_seed(3); out.append(adf_moments(net, xx, sample=True)[0])
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=1e-12)


def test_local_reparam_contiguous_draws_unchanged():
    "For a contiguous input the index-order draw is randn_like's: the same numbers as before the fix."
    net, x, y = conv_net()
    torch.manual_seed(3); mu, var = adf_moments(net, x, sample=True)
    want = net.loss(mu + var.sqrt() * torch.randn_like(mu), y).mean()
    torch.manual_seed(3); got = estimator('local_reparam').surrogate(net, x, y)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# 2. BayesBiNN: the first sample (delta) of a channels_last conv weight is the contiguous one's

def test_bayesbinn_delta_ignores_channels_last():
    deltas, weights = [], []
    for cl in (False, True):
        torch.manual_seed(0); m = torch.nn.Sequential(BinaryWeightConv2d(2, 3, 3))
        if cl: m = m.to(memory_format=CL)
        torch.manual_seed(5); opt = BayesBiNN(binary_param_groups(m), train_size=10)
        deltas.append(opt.state[m[0].weight]['delta']); weights.append(m[0].weight.detach().clone())
    assert torch.equal(deltas[0], deltas[1])          # was: delta[0, :, 0, 0] = [0.79, 2.57] vs [0.79, -0.97]
    assert torch.equal(weights[0], weights[1])
