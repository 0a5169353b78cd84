"""Review s49 (I): ADF (`adf`, `local_reparam`, `adf_moments`) with 16-bit parameters propagates its means and variances in
float32 (`noise_dtype`) and rounds once: in float16 the head's variance overflowed silently (a loss of 0 where float32's is
finite) and `4 F(z) F(-z)` gave NaN gradients. Each float16 case below fails on the code before the fix; float32 and float64
are unchanged (tests/test_review_s47_L2.py::test_adf_unchanged_on_ordinary_weights)."""
import copy, pytest, torch
import sbn_estimators as S
from sbn_estimators.adf import adf_moments
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_

torch.set_num_threads(1)
EPS16 = torch.finfo(torch.float16).eps


def _min_net(w, dtype=torch.float16):
    "All weights ±w (the first layer's states spread by one column of -w), tiny inputs: W² and the head's variance overflow float16, the std does not."
    net = SBNMLP([2, 3, 3, 1], dtype=dtype)
    with torch.no_grad():
        for l in net.layers: l.weight.fill_(w); l.bias.zero_()
        net.layers[1].weight[:, 0] = -w
    x = torch.tensor([[0.001, -0.002], [0.003, 0.001]], dtype=dtype)
    return net, x, torch.tensor([[1.], [-1.]], dtype=dtype)


def _nan_net(dtype=torch.float16):
    "init_sbn_'s network with every parameter times 300 (max |W| 769): float16 gave NaN gradients from 4 F(z) F(-z)."
    X, Y = cos_data(10, seed=0)
    net = init_sbn_(SBNMLP([2, 3, 3, 1]), X, seed=0)
    with torch.no_grad():
        for p in net.parameters(): p.mul_(300.)
    return net.to(dtype), X.to(dtype), Y.to(dtype)


CASES = {'min200': lambda: _min_net(200.), 'min260': lambda: _min_net(260.), 'min300': lambda: _min_net(300.), 'nan300': _nan_net}


def _run(net, x, y, name, head, seed):
    net.zero_grad(); torch.manual_seed(seed)
    loss = S.estimator(name, head=head).surrogate(net, x, y); loss.backward()
    return loss.detach(), [p.grad for p in net.parameters()]


@pytest.mark.parametrize('case', list(CASES))
@pytest.mark.parametrize('name', ['adf', 'local_reparam'])
@pytest.mark.parametrize('head', ['linear', 'squashed'])
def test_adf_float16_close_to_float32(case, name, head):
    "The float16 loss and gradients are finite and those of the same (float16-valued) network in float32, to float16's rounding."
    n16, x, y = CASES[case]()
    n32 = copy.deepcopy(n16).float()
    for seed in range(3):   # the same draws: both draw their noise in float32
        l16, g16 = _run(n16, x, y, name, head, seed)
        l32, g32 = _run(n32, x.float(), y.float(), name, head, seed)
        assert l16.dtype == torch.float16 and all(g.dtype == torch.float16 for g in g16)
        assert l16.isfinite() and all(g.isfinite().all() for g in g16), (case, name, head, seed, l16, g16)
        assert abs(l16.double() - l32.double()) <= 4 * EPS16 * abs(l32.double()), (l16, l32)   # was 0 where float32's is 13.9 to 72.5
        d, r = torch.cat([g.double().flatten() for g in g16]), torch.cat([g.double().flatten() for g in g32])
        assert (d - r).norm() <= 8 * EPS16 * r.norm() + torch.finfo(torch.float16).tiny, (case, name, head, seed, d, r)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('sample', [False, True])
@pytest.mark.parametrize('head', ['linear', 'squashed'])
def test_adf_moments_16_bit_are_float32_rounded_once(dtype, sample, head):
    "16-bit adf_moments: float32's moments of the same network, rounded once to the dtype, bit for bit (float16: inf where the variance exceeds it)."
    n16, x, _ = _min_net(200., dtype)
    n32 = copy.deepcopy(n16).float()
    torch.manual_seed(0); got = adf_moments(n16, x, sample=sample, head=head)
    torch.manual_seed(0); want = adf_moments(n32, x.float(), sample=sample, head=head)
    for g, w in zip(got, want): assert g.dtype == dtype and torch.equal(g, w.to(dtype)), (g, w)
    if dtype == torch.float16 and head == 'linear' and not sample:
        assert got[1].isinf().all() and want[1].isfinite().all() and got[0].isfinite().all()   # 1.2e5 > 65504: inf, as documented
    sum(t.float().sum() for t in got if t.isfinite().all()).backward()
    assert all(p.grad.dtype == dtype and p.grad.isfinite().all() for p in n16.parameters())


def test_adf_16_bit_batched_params_gradients_in_their_dtype():
    "sample_params copies in float16: each copy's gradient comes back in float16, finite, as float32's."
    n16, x, y = _min_net(260.)
    ps = n16.sample_params(3)
    torch.manual_seed(0); S.estimator('adf').surrogate(n16, x, y, ps).backward()
    n32 = copy.deepcopy(n16).float(); ps32 = n32.sample_params(3)
    torch.manual_seed(0); S.estimator('adf').surrogate(n32, x.float(), y.float(), ps32).backward()
    for (W, b), (W32, b32) in zip(ps, ps32):
        for g, r in ((W.grad, W32.grad), (b.grad, b32.grad)):
            assert g.dtype == torch.float16 and g.isfinite().all()
            assert (g.double() - r.double()).norm() <= 8 * EPS16 * r.double().norm() + torch.finfo(torch.float16).tiny
