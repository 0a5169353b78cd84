"Review s49 (B): GST in float16 past its largest number, expected_quantization_error's limits, ReSTE's overflow advice, DuoBinary's shift, ADF variances past W² overflow."
import copy, math, re, pytest, torch
from sbn_estimators import catalogue   # registers the estimators
from sbn_estimators.estimators import estimator
from sbn_estimators.gumbel_family import GST
from sbn_estimators.biper import expected_quantization_error
from sbn_estimators.binaryduo import DuoBinary
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.adf import adf_moments


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize('gap', [7e4, 1e39, 1e300])
def test_gst_gap_beyond_the_dtype(dtype, gap):
    "A gap beyond the pre-activations' largest number: the slope (2/tau) sigma'(>= gap/tau) is 0, in a's dtype, not a raw torch error."
    a = torch.tensor([0.5, -2.], dtype=dtype, requires_grad=True)
    estimator(f'gst:gap={gap}')(a).sum().backward()
    assert a.grad.dtype == dtype and torch.equal(a.grad, torch.zeros(2, dtype=dtype))


@pytest.mark.parametrize('law', ['normal', 'uniform'])
@pytest.mark.parametrize('freq, scale', [(1e308, 1.), (1., 1e308), (1e200, 1e200), (1.7e308, 1.7e308)])
def test_expected_quantization_error_limit(law, freq, scale):
    "omega * scale beyond float64: the limit 1 - 2/pi (the phase spread uniformly), not NaN."
    assert expected_quantization_error(freq, scale, law, terms=1000) == pytest.approx(1 - 2 / math.pi, abs=1e-12)


@pytest.mark.parametrize('law', ['normal', 'uniform'])
def test_expected_quantization_error_small_freq_large_scale(law):
    "freq 1e308 against scale 1e-308: omega sigma = 1, as at (1, 1), although 2 k freq overflows alone."
    assert expected_quantization_error(1e308, 1e-308, law, terms=1000) == pytest.approx(expected_quantization_error(1., 1., law, terms=1000), rel=1e-12)


def test_reste_overflow_message_float32():
    "float32 input: the advice is float64 (which holds 5e299), not float32."
    with pytest.raises(ValueError, match=r"beyond the largest torch\.float32 number 3\.40282e\+38: use float64, or m >= 2\.689e-39$"):
        estimator('reste:m=1e-300,o=1000')(torch.zeros(3, requires_grad=True))
    a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    estimator('reste:m=1e-300,o=1000')(a).sum().backward()
    assert torch.isfinite(a.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.float32, torch.float64])
def test_reste_overflow_message_no_dtype_holds(dtype):
    "A peak beyond float64 too: only the bound on m, no dtype suggested."
    with pytest.raises(ValueError) as e:
        estimator('reste:m=1e-320,o=1000')(torch.zeros(3, dtype=dtype, requires_grad=True))
    msg = str(e.value)
    assert 'peak slope' in msg and 'use ' not in msg and 'm >= ' in msg


def test_reste_overflow_message_half():
    "float16 with a peak float32 holds: float32 suggested (as before); a peak only float64 holds: float64."
    with pytest.raises(ValueError, match=r"torch\.float16 number 65504: use float32, or m >= "):
        estimator('reste:m=1e-10')(torch.zeros(3, dtype=torch.float16, requires_grad=True))
    with pytest.raises(ValueError, match=r"torch\.float16 number 65504: use float64, or m >= "):
        estimator('reste:m=1e-300,o=1000')(torch.zeros(3, dtype=torch.float16, requires_grad=True))


@pytest.mark.parametrize('shift', [1e39, 1e300, 1e-50])
def test_duobinary_shift_beyond_float32(shift):
    with pytest.raises(ValueError, match=rf"shift must be a positive number that torch\.float32 holds .*at most 3\.403e\+38.*got {re.escape(repr(shift))}"):
        DuoBinary(2, shift=shift)
    d = DuoBinary(2, shift=3e38)   # the largest float32 shifts are kept
    assert torch.isfinite(d.bias).all() and d.bias[1, 0].item() == pytest.approx(3e38, rel=1e-6)


def _scaled_nets(s):
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 3, 1], dtype=torch.float64)
    with torch.no_grad(): net.layers[1].weight.mul_(s); net.layers[1].bias.mul_(s)
    return net, copy.deepcopy(net).float()


@pytest.mark.parametrize('sample', [False, True])
@pytest.mark.parametrize('s', [1e3, 1e19, 1e20, 1e30, 1e37])
def test_adf_moments_past_square_overflow(s, sample):
    "Layer-1 weights whose squares overflow float32: the moments are those of float64 (scale-invariant in s), with finite gradients."
    n64, n32 = _scaled_nets(s)
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    torch.manual_seed(1); want = adf_moments(n64, x, sample=sample)
    torch.manual_seed(1); got = adf_moments(n32, x.float(), sample=sample)
    for g, w in zip(got, want): assert g.item() == pytest.approx(w.item(), abs=1e-5)
    if not sample:
        ref = adf_moments(_scaled_nets(1e3)[0], x)   # s = 1e3 is the limit to float32's precision already
        for g, w in zip(got, ref): assert g.item() == pytest.approx(w.item(), abs=1e-5)
    sum(got).backward()
    assert all(torch.isfinite(p.grad).all() for p in n32.parameters())


def test_adf_moments_float64_past_square_overflow():
    "float64 weights of 1e160 (W² = 1e320 overflows): the scale-invariant limit of 1e20."
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    ref = adf_moments(_scaled_nets(1e20)[0], x)   # the limit, to float64's precision
    got = adf_moments(_scaled_nets(1e160)[0], x)
    for g, w in zip(got, ref): assert g.item() == pytest.approx(w.item(), abs=1e-9)


def test_adf_moments_squashed_head_past_square_overflow():
    "The head's weights scaled: its linear variance is beyond float32 (inf, not clamped), the squashed moments equal float64's."
    torch.manual_seed(0)
    n64 = SBNMLP([2, 3, 3, 1], dtype=torch.float64)
    with torch.no_grad(): n64.layers[2].weight.mul_(1e37); n64.layers[2].bias.mul_(1e37)
    n32 = copy.deepcopy(n64).float()
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    want, got = adf_moments(n64, x, head='squashed'), adf_moments(n32, x.float(), head='squashed')
    for g, w in zip(got, want): assert g.item() == pytest.approx(w.item(), abs=1e-5)
    assert adf_moments(n32, x.float())[1].isinf().all() and torch.isfinite(adf_moments(n64, x)[1]).all()
