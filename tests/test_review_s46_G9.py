"Review s46, fix G9: `evaluate` and `evaluate_posterior` check `device` with `core.check_device`: a ValueError naming the argument, for a name that is no device ('gpu') and for CUDA on a machine without it."
import pytest, torch
from torch import nn
from sbn_estimators.data import cos_dataset
from sbn_estimators.models import get_model
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups
from sbn_estimators.train import evaluate, evaluate_posterior

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def data(): return cos_dataset()


@pytest.fixture(scope='module')
def sbn(data):
    torch.manual_seed(0)
    return get_model('sbn_mlp', 'st', in_shape=data.in_shape, n_out=data.n_out, width=8, loss=data.loss)   # one output: cos's targets (10 were broadcast against them before s57)


@pytest.fixture(scope='module')
def bnn(data):
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(2, 1))
    return net, BayesBiNN(binary_param_groups(net), train_size=len(data.splits['train'][1]))


def test_evaluate_names_a_device_that_is_none(sbn, data):
    with pytest.raises(ValueError, match=r"^device: 'gpu' is not a device"):   # was: a RuntimeError of torch.device
        evaluate(sbn, data, 'test', 2, device='gpu')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_evaluate_names_cuda_without_cuda(sbn, data):
    with pytest.raises(ValueError, match=r"^device: 'cuda' asked for but CUDA is not available"):   # was: an AssertionError of torch
        evaluate(sbn, data, 'test', 2, device='cuda')


def test_evaluate_posterior_names_the_device(bnn, data):
    net, opt = bnn
    with pytest.raises(ValueError, match=r"^device: 'gpu' is not a device"):
        evaluate_posterior(net, opt, data, 'test', samples=2, device='gpu')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^device: 'cuda' asked for but CUDA is not available"):
            evaluate_posterior(net, opt, data, 'test', samples=2, device='cuda')


def test_a_valid_device_evaluates_as_the_default(sbn, data, bnn):
    "'cpu', torch.device('cpu') and None (the model's device) give the same numbers (this part passes on the old code too)."
    r = [evaluate(sbn, data, 'test', 2, device=d, seed=3) for d in (None, 'cpu', torch.device('cpu'))]
    assert r[0] == r[1] == r[2]
    net, opt = bnn
    p = [evaluate_posterior(net, opt, data, 'test', samples=2, device=d) for d in (None, 'cpu')]
    assert p[0] == p[1]
