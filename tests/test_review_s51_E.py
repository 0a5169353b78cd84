"Review s51 (fixE): ADF / local reparameterisation skip the scaled unit where a layer's variance is known to be 0, and scale W without a quotient or square(); results bit for bit as before."
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from sbn_estimators.adf import adf_moments, binary_moments, _moments, _scaled_variance
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.psa import linear

class _Ops(TorchDispatchMode):
    def __init__(self): super().__init__(); self.ops = []
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__); return func(*args, **(kwargs or {}))

def _count(sample):
    torch.manual_seed(0); net = SBNMLP([6, 5, 4, 3], dtype=torch.float64); x = torch.rand(2, 6, dtype=torch.float64)
    with _Ops() as m: adf_moments(net, x, sample=sample)
    return m.ops

def test_zero_variance_layers_use_the_plain_unit():
    "Old: every hidden layer ran the scaled unit's two branches (a hypot each); the first layer (and every sampled one) has variance 0."
    assert _count(False).count('hypot') == 1   # only the second hidden layer carries a variance
    assert _count(True).count('hypot') == 0    # local reparameterisation: every hidden layer is sampled

def test_scaled_variance_uses_no_quotient_or_square():
    "Old: W / 2^k and .square() over the weights (a div and a pow of W's size); now one product and W_s * W_s."
    W = torch.randn(5, 4, dtype=torch.float64); v = torch.rand(2, 4, dtype=torch.float64)
    with _Ops() as m: var, k = _scaled_variance(linear, v, W, torch.zeros(5, dtype=torch.float64))
    assert 'pow' not in m.ops and 'abs' not in m.ops
    assert torch.equal(var, linear(v, W * W, torch.zeros(5, dtype=torch.float64))) and k.item() == 0

def test_first_layer_is_moments_at_variance_zero_bit_for_bit():
    torch.manual_seed(1); net = SBNMLP([6, 5, 3], dtype=torch.float32); x = torch.rand(4, 6)
    (W, b), (V, c) = net.layer_params()
    m, v = _moments(linear(x, W, b), torch.zeros(4, 5), net.noise)
    mu, var = adf_moments(net, x)
    assert torch.equal(mu, linear(m, V, c)) and torch.equal(var, linear(v, V * V, torch.zeros_like(c)))

def test_big_weights_still_finite_in_float32():
    "float32 safety kept: weights whose W² overflows give the float64 network's moments."
    torch.manual_seed(2); net = SBNMLP([6, 5, 4, 3], dtype=torch.float64); x = torch.rand(3, 6, dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters(): p.mul_(1e25)
    want = adf_moments(net, x, head='squashed')
    got = adf_moments(net.float(), x.float(), head='squashed')
    for g, w in zip(got, want): assert g.isfinite().all() and torch.allclose(g.double(), w, rtol=1e-4, atol=1e-6)
