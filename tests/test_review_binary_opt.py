"Review of Bop/BayesBiNN (nbs/20) and clip_latent_ (nbs/07): 16-bit weights keep float32 optimizer state, 0-d tensor hyper-parameters, binary groups' weight_decay, clip_latent_'s arguments."
import io
from types import SimpleNamespace
import pytest, torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, BayesBiNN, binary_param_groups, make_bop, make_bayesbinn
from sbn_estimators.binary_weights import BinaryWeightLinear, clip_latent_

torch.set_num_threads(1)

def _grads(n, k, seed=0, scale=1e-3):
    "n gradients of k entries, exactly representable in bfloat16 and float16 (so every dtype sees the same values)."
    g = torch.Generator().manual_seed(seed)
    return [(scale * torch.randn(k, generator=g)).to(torch.bfloat16).to(torch.float16).float() for _ in range(n)]

@pytest.mark.parametrize('dt', [torch.bfloat16, torch.float16])
def test_bop_16bit_state_is_float32_and_matches_float32(dt):
    "m in float32 for 16-bit weights: the moving average, and so the flips, are those of a float32 run fed the same gradients."
    w0 = torch.tensor([1., -1., 0.5, -0.5, 2., -2.])
    w16, w32 = nn.Parameter(w0.to(dt)), nn.Parameter(w0.clone())
    o16, o32 = (Bop([{'params': [w], 'binary': True}], threshold=1e-5, gamma=1e-3) for w in (w16, w32))
    flips = 0
    for g in _grads(400, 6):
        before = torch.sign(w32.detach())
        w16.grad, w32.grad = g.to(dt), g.clone(); o16.step(); o32.step()
        flips += int((torch.sign(w32.detach()) != before).sum())
        assert torch.equal(torch.sign(w16.detach().float()), torch.sign(w32.detach()))   # the same flips, step by step
    assert flips > 0   # the float32 run does flip weights, so the comparison can fail
    assert o16.state[w16]['m'].dtype == torch.float32
    assert torch.equal(o16.state[w16]['m'], o32.state[w32]['m'])

def test_bop_bf16_m_decays():
    "bf16, gamma = 1e-4: 1 - gamma rounds to 1 in bfloat16, so m never decayed; it decays as (1 - gamma)^t."
    w = nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    opt = Bop([{'params': [w], 'binary': True}], threshold=1.0, gamma=1e-4)
    w.grad = torch.full((3,), -1., dtype=torch.bfloat16)
    for _ in range(2): opt.step()
    m0 = opt.state[w]['m'].clone()
    w.grad = torch.zeros(3, dtype=torch.bfloat16)
    for _ in range(1000): opt.step()
    torch.testing.assert_close(opt.state[w]['m'], m0 * (1 - 1e-4) ** 1000, rtol=1e-4, atol=0)

def test_bop_fp16_small_gradients_accumulate():
    "fp16, gamma = 1e-4, g = 1e-4: gamma*g underflowed and m stayed 0."
    w = nn.Parameter(torch.ones(2, dtype=torch.float16))
    opt = Bop([{'params': [w], 'binary': True}], threshold=1e-3, gamma=1e-4)
    for _ in range(2000):
        w.grad = torch.full((2,), 1e-4, dtype=torch.float16); opt.step()
    expect = 1e-4 * (1 - (1 - 1e-4) ** 2000) * torch.ones(2)
    torch.testing.assert_close(opt.state[w]['m'], expect * (torch.tensor(1e-4, dtype=torch.float16).item() / 1e-4), rtol=1e-4, atol=0)

def test_bayesbinn_bf16_lambda_decays():
    "bf16, defaults (lr 1e-4, init_lambda 10), g = 0: lambda stayed at 10; it decays as in float32."
    lams = []
    for dt in (torch.bfloat16, torch.float32):
        w = nn.Parameter(torch.tensor([0.3, -0.2], dtype=dt))
        opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=10)
        for _ in range(1000):
            w.grad = torch.zeros_like(w); opt.step()
        lams.append(opt.state[w]['lambda'])
    assert lams[0].dtype == torch.float32
    assert torch.equal(lams[0], lams[1])
    torch.testing.assert_close(lams[0], torch.tensor([10., -10.]) * (1 - 1e-4) ** 1000, rtol=1e-5, atol=0)

@pytest.mark.parametrize('dt', [torch.bfloat16, torch.float16])
def test_bayesbinn_16bit_matches_float32(dt):
    "lambda, delta and momentum in float32: 16-bit weights (float16 was refused) follow the float32 run bit for bit; the parameter holds its sample rounded."
    out = []
    for d in (dt, torch.float32):
        torch.manual_seed(0)
        w = nn.Parameter(torch.tensor([0.3, -0.2, 0.1, -0.4], dtype=d))
        opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=50, lr=0.05, beta=0.9)
        for g in _grads(30, 4, seed=1):
            w.grad = g.to(d); opt.step()
        out.append((opt, w))
    (o16, w16), (o32, w32) = out
    for k in ('lambda', 'delta', 'm'):
        assert o16.state[w16][k].dtype == torch.float32, k
        assert torch.equal(o16.state[w16][k], o32.state[w32][k]), k
    assert torch.equal(w16.detach(), w32.detach().to(dt))
    assert torch.isfinite(o16.state[w16]['lambda']).all()

def test_16bit_state_survives_state_dict():
    "Optimizer.load_state_dict casts state to the parameter's dtype; the 16-bit weights' state comes back in float32, unchanged."
    w = nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.bfloat16))
    bop = Bop([{'params': [w], 'binary': True}], gamma=1e-3)
    w.grad = torch.tensor([1e-3, -3e-3], dtype=torch.bfloat16); bop.step()
    bb = BayesBiNN([{'params': [nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.bfloat16))], 'binary': True}], train_size=10, beta=0.5)
    p = bb.param_groups[0]['params'][0]; p.grad = torch.tensor([0.5, 0.25], dtype=torch.bfloat16); bb.step()
    for opt, make in ((bop, lambda q: Bop([{'params': [q], 'binary': True}], gamma=1e-3)),
                      (bb, lambda q: BayesBiNN([{'params': [q], 'binary': True}], train_size=10, beta=0.5))):
        buf = io.BytesIO(); torch.save(opt.state_dict(), buf); buf.seek(0)
        q = nn.Parameter(torch.zeros(2, dtype=torch.bfloat16)); fresh = make(q)
        fresh.load_state_dict(torch.load(buf))
        src = opt.state[opt.param_groups[0]['params'][0]]
        for k, v in src.items():
            if torch.is_tensor(v):
                assert fresh.state[q][k].dtype == torch.float32 and torch.equal(fresh.state[q][k], v), k

@pytest.mark.parametrize('make, key', [
    (lambda w, v: Bop([{'params': [w], 'binary': True}], gamma=v), 'gamma'),
    (lambda w, v: BayesBiNN([{'params': [w], 'binary': True}], train_size=5, beta=v), 'beta'),
    (lambda w, v: BayesBiNN([{'params': [w], 'binary': True}], train_size=5, scale_eps=v), 'scale_eps'),
    (lambda w, v: Bop([{'params': [w], 'binary': True}], betas=(v, torch.tensor(0.999))), 'betas')])
def test_zero_dim_tensor_hyperparameters(make, key):
    "0-d tensors are taken as numbers, as _positive and _finite take them (they were refused as 'must be in (0, 1], got tensor(0.1000)')."
    opt = make(nn.Parameter(torch.tensor([0.3, -0.2])), torch.tensor(0.1))
    v = opt.param_groups[0][key]
    assert (v[0] if key == 'betas' else v) == pytest.approx(0.1) and isinstance(v[0] if key == 'betas' else v, float)

def test_zero_dim_tensor_out_of_range_still_refused():
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\], got 2.0"):
        Bop([{'params': [nn.Parameter(torch.zeros(2))], 'binary': True}], gamma=torch.tensor(2.))
    opt = BayesBiNN([{'params': [nn.Parameter(torch.zeros(2))], 'binary': True}], train_size=torch.tensor(7))
    assert opt.param_groups[0]['train_size'] == 7
    with pytest.raises(ValueError, match="train_size must be a positive integer, got 1.5"):
        BayesBiNN([{'params': [nn.Parameter(torch.zeros(2))], 'binary': True}], train_size=torch.tensor(1.5))

@pytest.mark.parametrize('cls, kw', [(Bop, {}), (BayesBiNN, dict(train_size=10))])
def test_binary_group_weight_decay_refused(cls, kw):
    "A binary group's own nonzero weight_decay was accepted and ignored; now refused. 0 is fine."
    w = nn.Parameter(torch.tensor([0.3, -0.2]))
    with pytest.raises(ValueError, match="weight_decay of param group 0 must be 0 in a binary group, got 5.0: weight decay applies to the real-valued"):
        cls([{'params': [w], 'binary': True, 'weight_decay': 5.0}], **kw)
    cls([{'params': [w], 'binary': True, 'weight_decay': 0.}], **kw)
    opt = cls([{'params': [w], 'binary': True}], **kw)
    with pytest.raises(ValueError, match="weight_decay of param group 1 must be 0 in a binary group"):
        opt.add_param_group({'params': [nn.Parameter(torch.zeros(2))], 'binary': True, 'weight_decay': 1e-4})
    assert len(opt.param_groups) == 1

def test_trainer_weight_decay_still_builds():
    "The trainer passes cfg.weight_decay as the constructor's default: accepted, Adam's for the real-valued groups only."
    layer = BinaryWeightLinear(4, 2)
    cfg = SimpleNamespace(lr=1e-3, weight_decay=1e-4)
    for opt in (make_bop(binary_param_groups(layer), cfg), make_bayesbinn(binary_param_groups(layer), cfg, train_size=100)):
        assert opt.param_groups[1]['weight_decay'] == 1e-4
    w = nn.Parameter(torch.tensor([0.5, -0.5])); w.grad = torch.zeros(2)
    bop = Bop([{'params': [w], 'binary': True}], weight_decay=1.0); bop.step()
    assert torch.equal(w.detach(), torch.tensor([0.5, -0.5]))   # no decay of binary latents

def test_clip_latent_arguments():
    lin = BinaryWeightLinear(3, 2)
    with pytest.raises(ValueError, match="params must be a tensor or an iterable of tensors, got a dict"):
        clip_latent_(lin.state_dict(), 1.)
    with pytest.raises(ValueError, match="got an iterable holding str"):
        clip_latent_(['weight'], 1.)
    with torch.no_grad(): lin.weight.copy_(torch.tensor([[3., -0.5, -4.], [0.2, 1.5, -1.]]))
    clip_latent_(lin.weight, 1.)                                # a single tensor
    assert torch.equal(lin.weight.detach(), torch.tensor([[1., -0.5, -1.], [0.2, 1., -1.]]))
    t = torch.tensor([2., -2.]); clip_latent_((x for x in [t]), 0.5)   # a generator
    assert torch.equal(t, torch.tensor([0.5, -0.5]))
