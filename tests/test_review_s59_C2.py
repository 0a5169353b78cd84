"Review s59 C2: `mismatch` and `module_loss` measure in the parameters' dtype under autocast (batch norm included)."
import torch
from sbn_estimators.mismatch import mismatch, module_loss
from sbn_estimators.models import get_model

def _setup():
    torch.manual_seed(0)
    model = get_model('duo_mlp', None, in_shape=(64,), n_out=10, hidden=16)
    x = torch.rand(32, 64); y = torch.randint(0, 10, (32,))
    return model, x, y

def test_mismatch_under_cpu_bf16_autocast_equals_float32():
    model, x, y = _setup()
    ref = mismatch(model, x, y, samples=20, chunk=10, seed=3)
    with torch.autocast('cpu', torch.bfloat16): got = mismatch(model, x, y, samples=20, chunk=10, seed=3)
    assert got == ref

def test_module_loss_under_cpu_bf16_autocast_equals_float32():
    model, x, y = _setup()
    name = [n for n, p in model.named_parameters() if p.ndim == 2][0]
    w = model.get_parameter(name).detach()
    pts = [torch.stack([w, 1.5 * w])]
    f = module_loss(model, x, y, [name])
    with torch.no_grad():
        ref = f(pts)
        with torch.autocast('cpu', torch.bfloat16): got = f(pts)
    assert got.dtype == torch.float32 and torch.equal(got, ref)
