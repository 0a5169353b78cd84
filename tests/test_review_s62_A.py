"Review s62, fix A: a torch.compile'd SBN model with module hooks is refused as the eager one is (its forward is only ever traced, and the check was skipped while tracing: a pruned layer ran on its stale weight); hooks on a parametrization are accepted (reading the weight calls it); an unregistered estimator class that sets its own name repr's as a constructor call."
import pytest, torch
import torch.nn.utils.prune as prune
import torch.nn.utils.parametrize as parametrize
from torch import nn
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.core import check_sbn_model
from sbn_estimators.estimators import estimator

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    return SBNMLP([3, 4, 2], loss='cross_entropy', dtype=torch.float32), torch.randn(5, 3)


@pytest.mark.parametrize('est', [None, 'st'])
def test_a_compiled_model_with_hooks_is_refused(est):
    net, x = _net()
    prune.l1_unstructured(net.layers[0], 'weight', amount=0.5)
    c = torch.compile(net, backend='eager')   # dynamo traces the forward: the check runs in the trace
    args = (x,) if est is None else (x, estimator(est))
    with pytest.raises(ValueError, match=r"layer 'layers.0' \(Linear\) of the SBN model SBNMLP carries module hooks"):
        c(*args)


def test_a_compiled_model_without_hooks_runs():
    net, x = _net()
    c = torch.compile(net, backend='eager')
    assert c(x).shape == (5, 2) and c(x, estimator('st')).shape == (5, 2)


class _Scale(nn.Module):
    def forward(self, W): return 2 * W


def test_a_hook_on_a_parametrization_is_accepted_and_runs():
    net, x = _net()
    parametrize.register_parametrization(net.layers[0], 'weight', _Scale())
    calls = []
    net.layers[0].parametrizations.weight[0].register_forward_hook(lambda m, i, o: calls.append(1))
    net(x); net(x, estimator('st'))
    check_sbn_model(net, 'reinforce')   # raised 'would never run' before
    assert len(calls) >= 2   # each forward read the weight through the parametrization, which ran its hook
    net.layers[0].register_forward_pre_hook(lambda m, i: None)   # a hook on the layer itself is still refused
    with pytest.raises(ValueError, match=r"layer 'layers.0' \(ParametrizedLinear\)"):
        net(x)


def test_an_unregistered_class_naming_itself_reprs_as_a_call():
    class Mine(type(estimator('reinforce'))): name = 'mine'
    e = Mine()
    assert repr(e).startswith('Mine(') and e.spec == 'mine'   # its messages keep the name it gave itself
    assert estimator('reinforce')._named() and repr(estimator('reinforce:n=3')) == "estimator('reinforce:n=3')"
