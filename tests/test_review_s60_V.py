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
