"""s45 fix D3: rebar, relax and rodeo follow the network to another device (the tuned state and Adam's moments move with it).

No second real device here: the first call runs on CPU, the second on the 'meta' device under `FakeTensorMode` (values read by
the input checks are dummies). Before the fix relax and rodeo crashed ('Expected all tensors to be on the same device') and rebar kept
its scales, log tau and Adam's moments on the CPU."""
import copy, torch, pytest
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from sbn_estimators.estimators import estimator
from sbn_estimators.sbn import SBNMLP

class _Values(TorchDispatchMode):
    "Answer the value reads of the checks on fake tensors: `.all()` true, `.any()` false, numbers 0 / 0.5."
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default:
            t = args[0]
            if t.dtype == torch.bool: return not getattr(t, '_from_any', False)
            return 0.5 if t.is_floating_point() else 0
        out = func(*args, **kwargs)
        if func.overloadpacket is torch.ops.aten.any and isinstance(out, torch.Tensor): out._from_any = True
        return out

def _module_to(self, device=None, dtype=None, **kw):
    "Module.to(device=, dtype=) by new parameters and buffers (the harness's: the library's fake-tensor swap fails)."
    conv = lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None)
    for m in self.modules():
        for k, p in m._parameters.items():
            if p is not None: m._parameters[k] = torch.nn.Parameter(conv(p.detach()), requires_grad=p.requires_grad)
        for k, b in m._buffers.items():
            if b is not None: m._buffers[k] = conv(b)
    return self

def _state_devices(sd):
    tuned = sd['tuned'] if 'tuned' in sd else [sd['alphas'], sd['betas'], *sd['nets'].values()]
    moments = [v for s in sd['opt']['state'].values() for k, v in s.items() if k != 'step']   # Adam's step count stays on the CPU
    return {t.device.type for t in tuned}, {t.device.type for t in moments}

@pytest.mark.filterwarnings('ignore:for .*copying from a non-meta parameter')   # load_state_dict into meta modules: a no-op
@pytest.mark.parametrize('name', ['rebar', 'relax', 'rodeo'])
def test_state_follows_the_device(name, monkeypatch):
    torch.manual_seed(0)
    net = SBNMLP([2, 4, 4, 1], dtype=torch.float64)
    x, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64).sign()
    e = estimator(name)
    e.surrogate(net, x, y).backward()                                   # tuned on the CPU: state and Adam's moments there
    assert _state_devices(e.state_dict()) == ({'cpu'}, {'cpu'})
    netm = copy.deepcopy(net).to('meta'); xm, ym = x.to('meta'), y.to('meta')   # the network and data moved
    monkeypatch.setattr(torch.nn.Module, 'to', _module_to)               # Module.to swaps fake parameters, which fails
    with FakeTensorMode(allow_non_fake_inputs=True), _Values():
        e.surrogate(netm, xm, ym).backward()                            # before the fix: relax, rodeo raised here
        tuned, moments = _state_devices(e.state_dict())
    assert tuned == {'meta'} and moments == {'meta'}                     # before the fix: rebar's stayed on the CPU
