"Review s43: checks of the merge of two fixes (MirrorDescentAdam of page 20 with MirrorDescent's load checks of page 07)."
import copy, math, pytest, torch
from torch import nn
from sbn_estimators.binary_optimizers import MirrorDescentAdam

def _opt():
    torch.manual_seed(0)
    w, b = nn.Parameter(torch.randn(4)), nn.Parameter(torch.randn(2))
    opt = MirrorDescentAdam([{'params': [w], 'binary': True}, {'params': [b]}], lr=0.1, clip=1.)
    for _ in range(2):
        opt.zero_grad(); ((w * torch.arange(4.)).sum() + (b ** 2).sum()).backward(); opt.step()
    return opt, w, b

def test_mirror_descent_adam_state_round_trip():
    "A state_dict with Adam's real-valued group loads again (a resumed sbn-train run) into a fresh optimizer, and the next steps agree."
    opt, w, b = _opt()
    sd = copy.deepcopy(opt.state_dict())   # as torch.save / torch.load give it: torch's load_state_dict does not copy the state's tensors
    w2, b2 = nn.Parameter(w.detach().clone()), nn.Parameter(b.detach().clone())   # the saved parameters, in an optimizer that never stepped
    opt2 = MirrorDescentAdam([{'params': [w2], 'binary': True}, {'params': [b2]}], lr=0.1, clip=1.)
    opt2.load_state_dict(sd)
    assert opt2.state[b2]['step'] == 2   # Adam's moments and step count came with the state_dict: without them the next step differs
    for o, x, y in ((opt, w, b), (opt2, w2, b2)):
        o.zero_grad(); ((x * torch.arange(4.)).sum() + (y ** 2).sum()).backward(); o.step()
    assert torch.equal(w, w2) and torch.equal(b, b2)

@pytest.mark.parametrize('group, key, value', [(0, 'lr', math.nan), (1, 'lr', math.nan), (1, 'eps', -1.), (0, 'clip', -1.)])
def test_mirror_descent_adam_refuses_bad_loaded_groups(group, key, value):
    opt, *_ = _opt()
    sd = opt.state_dict(); sd['param_groups'][group][key] = value
    with pytest.raises(ValueError, match=f'{key}.*param group {group} of the loaded state_dict'): opt.load_state_dict(sd)
