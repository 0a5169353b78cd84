"""Review s45 (device readiness), fix D2: ReSTE's slope makes its constants of o on the input's device (no host-to-device
copy per call); the conv PSA backward checks the logistic overflow guard once per layer (one host read, not one per
example group)."""
import torch, pytest
from torch.utils._python_dispatch import TorchDispatchMode
from sbn_estimators.estimators import estimator
from sbn_estimators import reste as R

aten = torch.ops.aten
torch.set_num_threads(1)

class Copies(TorchDispatchMode):
    "Counts copies from the CPU to another device (`.to(device)` of a CPU tensor) and host reads (`.item()`)."
    def __init__(self): super().__init__(); self.h2d, self.items = [], 0
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is aten._local_scalar_dense.default: self.items += 1
        if func in (aten._to_copy.default, aten.copy_.default):
            src = args[1] if func is aten.copy_.default else args[0]
            if isinstance(out, torch.Tensor) and src.device.type == 'cpu' and out.device.type != 'cpu': self.h2d.append(tuple(src.shape))
        return out

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_reste_slope_copies_nothing_to_the_device(dtype):
    "On a device ('meta' here: the same dispatch as CUDA) the slope's three constants of o were three host-to-device copies per call."
    est = estimator('reste')
    z = torch.empty(64, dtype=dtype, device='meta')
    with Copies() as c: s = est.slope(z)
    assert s.device.type == 'meta' and s.dtype == dtype
    assert c.h2d == [] and c.items == 0, c.h2d

def test_reste_slope_unchanged_on_cpu_and_follows_the_schedule():
    "CPU values: each constant of o computed in float64 and rounded once to the input's dtype, as before; setting o takes effect."
    z64 = torch.linspace(-2, 2, 4001, dtype=torch.float64)
    est = estimator('reste')
    for o in (1.0, 2.0, 3.0, 4.7):
        est.o = o
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            z = z64.to(dtype); az = z.to(R.noise_dtype(dtype)).abs(); ot = torch.tensor(o, dtype=torch.float64)
            ref = torch.where(az <= 0.1, (0.1 ** (1 / ot) / 0.1).to(az),
                              torch.where(az <= 1.5, az.clamp(min=0.1) ** ((1 - ot) / ot).to(az) / ot.to(az), az.clamp(0., 0.))).to(dtype)
            assert torch.equal(est.slope(z), ref), (o, dtype)

def test_compiled_reste_slope_follows_o():
    "Compiled, one graph serves every o (the 0-d tensor is filled in place) and gives the eager slope."
    torch._dynamo.reset()
    est = estimator('reste')
    f = torch.compile(lambda z: est.slope(z), fullgraph=True)
    z = torch.linspace(-2, 2, 401)
    for o in (1.0, 2.5, 3.0):
        est.o = o
        torch.testing.assert_close(f(z), R._reste_slope(z, o, est.t, est.m), rtol=1e-6, atol=0)

# ---- conv PSA: the compiled logistic kernel's overflow guard, once per layer

import torch.nn.functional as F
from sbn_estimators import psa, sbn_conv
from sbn_estimators.core import NOISES
from sbn_estimators.sbn_conv import conv_flip_backward

def test_conv_flip_backward_reads_the_overflow_guard_once_per_layer(monkeypatch):
    "Eight groups of one example: one host read (was eight); groups 2 and 5, beyond the guard, still take the eager path, the others the kernel."
    g = torch.Generator().manual_seed(0)
    B, cin, cout, hw = 8, 3, 4, 6
    x_in = torch.randint(0, 2, (B, cin, hw, hw), generator=g).float() * 2 - 1
    W = torch.randn(cout, cin, 3, 3, generator=g)
    a = F.conv2d(x_in, W, padding=1)
    a[2] *= 1e3; a[5, 1, 2, 3] = 60.   # e^{-a} would overflow float32 in groups 2 and 5
    x_out, gr = torch.randint(0, 2, a.shape, generator=g).float() * 2 - 1, torch.randn(a.shape, generator=g)
    monkeypatch.setattr(sbn_conv, 'PSA_COLS', hw * hw * cin * 9)   # one example per group
    kernel_rows = []
    monkeypatch.setattr(psa, '_fused', lambda f, *args: kernel_rows.append(args[0].shape[1]))   # the kernel "cannot compile": eager
    reads, item, tolist = [], torch.Tensor.item, torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, 'item', lambda t: reads.append(t.numel()) or item(t))
    monkeypatch.setattr(torch.Tensor, 'tolist', lambda t: reads.append(t.numel()) or tolist(t))
    r = conv_flip_backward(gr, x_in, x_out, a, W, NOISES['logistic'], 1, 1, backend='compiled')
    assert len(reads) == 1, reads
    assert len(kernel_rows) == B - 2, kernel_rows
    monkeypatch.setattr(torch.Tensor, 'item', item); monkeypatch.setattr(torch.Tensor, 'tolist', tolist)
    torch.testing.assert_close(r, conv_flip_backward(gr, x_in, x_out, a, W, NOISES['logistic'], 1, 1, backend='eager'))

def test_overflow_known_is_scoped():
    "The caller's answer holds inside `_overflow_known` only; outside, each compiled flip sum reads its own guard."
    assert psa._OVERFLOWS.get() is None
    with psa._overflow_known(True):
        assert psa._OVERFLOWS.get() is True
        with psa._overflow_known(None): assert psa._OVERFLOWS.get() is None
    assert psa._OVERFLOWS.get() is None
