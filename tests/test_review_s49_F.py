"Review s49 (F): the real-valued (Adam) groups of Bop, BayesBiNN and MirrorDescentAdam keep float16/bfloat16 parameters' moments and arithmetic in float32, rounded once into the parameter (float16's eps = 1e-8 rounded to 0, so a zero gradient entry gave 0/0 = NaN); float32/float64 steps stay torch.optim.Adam's bit for bit; a state_dict round-trips with the moments in float32."
import copy, pytest, torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, BayesBiNN, MirrorDescentAdam

torch.set_num_threads(1)

def make(name, w, real, **kw):
    groups = [{'params': [w], 'binary': True}, {'params': real, 'binary': False}]
    if name == 'bop': return Bop(groups, **kw)
    if name == 'bayesbinn': return BayesBiNN(groups, train_size=10, **kw)
    return MirrorDescentAdam(groups, **kw)

NAMES = ('bop', 'bayesbinn', 'mirror_descent')
GRADS = ([0.1, 0., -0.2, 0.], [0.3, 0., 0., 1e-3], [-0.05, 0., 0.2, 0.], [0., 0., 0., 0.])

@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dt', (torch.float16, torch.bfloat16))
def test_16bit_real_params_finite_and_float32_adam(name, dt):
    "Zero gradient entries stay finite; every step is torch.optim.Adam's float32 step (float32 state) from the rounded parameter, rounded to dt."
    w = nn.Parameter(torch.tensor([0.5, -0.5], dtype=torch.float32 if name == 'mirror_descent' else dt))   # MirrorDescent refuses 16-bit latents
    r = nn.Parameter(torch.tensor([0.5, -0.25, 0.125, 2.0], dtype=dt)); r32 = nn.Parameter(r.detach().float())
    opt = make(name, w, [r], lr=1e-2, weight_decay=0.01) if name != 'mirror_descent' else make(name, w, [r], lr=1e-2, adam_weight_decay=0.01)
    ref = torch.optim.Adam([r32], lr=1e-2, weight_decay=0.01, foreach=False)
    for g in GRADS:
        w.grad = torch.tensor([0.1, -0.1], dtype=w.dtype); r.grad = torch.tensor(g, dtype=dt); r32.grad = r.grad.float()
        opt.step(); ref.step()
        assert torch.isfinite(r).all(), r
        assert torch.equal(r.detach(), r32.detach().to(dt)), (r, r32)
        with torch.no_grad(): r32.copy_(r)
    assert opt.state[r]['exp_avg'].dtype == opt.state[r]['exp_avg_sq'].dtype == torch.float32
    assert torch.equal(opt.state[r]['exp_avg_sq'], ref.state[r32]['exp_avg_sq'])

@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dt', (torch.float32, torch.float64))
def test_32_64_bit_unchanged(name, dt):
    "float32/float64 real-valued groups: bit for bit torch.optim.Adam (the functional step of the code before the fix), state in the parameter's dtype."
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, dtype=dt)); r = nn.Parameter(torch.randn(3, 4, dtype=dt)); r2 = nn.Parameter(torch.randn(4, 3, dtype=dt).t())
    refs = [nn.Parameter(p.detach().clone()) for p in (r, r2)]
    opt = make(name, w, [r, r2], lr=1e-2, weight_decay=0.05) if name != 'mirror_descent' else make(name, w, [r, r2], lr=1e-2, adam_weight_decay=0.05)
    ref = torch.optim.Adam(refs, lr=1e-2, weight_decay=0.05, foreach=False)
    for _ in range(6):
        w.grad = torch.randn(5, dtype=dt)
        for p, q in zip((r, r2), refs): p.grad = torch.randn(p.shape, dtype=dt) * (torch.rand(p.shape) > 0.3); q.grad = p.grad.clone()
        opt.step(); ref.step()
    for p, q in zip((r, r2), refs):
        assert torch.equal(p.detach(), q.detach())
        for k in ('exp_avg', 'exp_avg_sq'): assert opt.state[p][k].dtype == dt and torch.equal(opt.state[p][k], ref.state[q][k])

@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dt', (torch.float16, torch.bfloat16))
def test_16bit_state_dict_round_trip(name, dt):
    "A saved state loads back with the real-valued parameters' moments in float32, unrounded, and the resumed run steps as the uninterrupted one."
    def build():
        w = nn.Parameter(torch.tensor([0.5, -0.5], dtype=torch.float32 if name == 'mirror_descent' else dt))
        r = nn.Parameter(torch.tensor([0.5, -0.25, 0.125, 2.0], dtype=dt))
        return w, r, make(name, w, [r], lr=1e-2)
    w, r, opt = build()
    for g in GRADS[:2]:
        w.grad = torch.tensor([0.1, -0.1], dtype=w.dtype); r.grad = torch.tensor(g, dtype=dt); opt.step()
    sd = copy.deepcopy(opt.state_dict())
    w2, r2, opt2 = build()
    with torch.no_grad(): w2.copy_(w); r2.copy_(r)
    opt2.load_state_dict(sd)
    for k in ('exp_avg', 'exp_avg_sq'):
        assert opt2.state[r2][k].dtype == torch.float32 and torch.equal(opt2.state[r2][k], opt.state[r][k])
    if name == 'bayesbinn': torch.manual_seed(0)
    for g in GRADS[2:]:
        for ww, rr, o in ((w, r, opt), (w2, r2, opt2)):
            ww.grad = torch.tensor([0.1, -0.1], dtype=ww.dtype); rr.grad = torch.tensor(g, dtype=dt)
        opt.step(); opt2.step()
        assert torch.equal(r.detach(), r2.detach())
