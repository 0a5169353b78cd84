"Review s47 (V2): the library on the oldest torch it declares (2.1), simulated on the current one where simple."
import math, warnings
import pytest, torch
from torch.torch_version import TorchVersion
from sbn_estimators import cli, psa, stats
from sbn_estimators.biper import BiPer

def test_out_of_memory_without_torch_OutOfMemoryError(monkeypatch):
    "torch 2.1 has no torch.OutOfMemoryError (only torch.cuda's): the CLI's error handling must not raise AttributeError there."
    monkeypatch.delattr(torch, 'OutOfMemoryError', raising=False)
    assert cli._out_of_memory(torch.cuda.OutOfMemoryError('CUDA out of memory')) and cli._out_of_memory(MemoryError())
    assert not cli._out_of_memory(ValueError('x')) and not cli._out_of_memory(RuntimeError('shape mismatch'))

@pytest.mark.parametrize('public', [True, False])
def test_biper_keeps_its_stage_without_the_public_pre_hook(monkeypatch, public):
    "torch 2.1 has only the private `_register_load_state_dict_pre_hook`: BiPer builds, and an old state_dict keeps its stage."
    if not public: monkeypatch.delattr(torch.nn.Module, 'register_load_state_dict_pre_hook', raising=False)
    for stage in (True, False):
        b = BiPer(binarize=stage)
        b.load_state_dict({})   # saved before BiPer stored its stage: the module's own stage
        assert b.binarize is stage and bool(b.binarized) is stage
        b.load_state_dict({'binarized': torch.tensor(not stage)})
        assert b.binarize is (not stage)

def _old_pow2_scale(m):   # the code before the fix: an int64 exponent
    m = torch.where(m.isfinite() & (m > 0), m, 1.)
    low = math.frexp(torch.finfo(m.dtype).tiny)[1] - 1
    return torch.ldexp(torch.ones_like(m), (torch.frexp(m).exponent - 1).clamp(min=low))

def _ldexp_of_torch_2_1(x, e):   # torch 2.1: an integer exponent's power of two is taken in float32
    return x * torch.pow(2., e.to(torch.float32)) if not e.is_floating_point() else x * torch.pow(2., e)

def _every_scale(dtype):
    k = torch.arange(-1074, 1024)   # every float64 exponent; those out of a narrower dtype's range become 0 or inf, dropped
    m = torch.ldexp(torch.ones(len(k), dtype=torch.float64), k.double())
    m = torch.cat([m, m * 1.5, m * (2 - 2 ** -50)]).to(dtype)   # a power of two, one between, one just below the next
    return torch.cat([m[torch.isfinite(m) & (m > 0)], torch.tensor([0., math.inf, math.nan], dtype=dtype)])

@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_pow2_scale_unchanged_and_right_at_every_scale(dtype, monkeypatch):
    "_pow2_scale is the same bits as before on this torch over every exponent (-1074..1023 in float64), and right where ldexp computes as torch 2.1's."
    m = _every_scale(dtype)
    new = stats._pow2_scale(m)
    if torch.ldexp(torch.ones(1, dtype=torch.float64), torch.tensor([-1074])).item() == 2. ** -1074:   # a torch whose int ldexp is exact (not 2.1)
        assert torch.equal(new, _old_pow2_scale(m)) and new.dtype == dtype   # bitwise: no -0 or NaN among them
    fin = torch.isfinite(m) & (m > 0)
    tiny = torch.finfo(dtype).tiny
    expect = torch.tensor([2. ** max(math.frexp(v)[1] - 1, math.frexp(tiny)[1] - 1) if f else 1.
                           for v, f in zip(m.double().tolist(), fin.tolist())], dtype=torch.float64).to(dtype)
    assert torch.equal(new, expect)
    monkeypatch.setattr(torch, 'ldexp', _ldexp_of_torch_2_1)
    assert torch.equal(stats._pow2_scale(m), expect)

def test_z_scores_at_extreme_scales_with_the_ldexp_of_torch_2_1(monkeypatch):
    "z-scores do not depend on a power-of-two scale of the samples and target, down to the subnormals, with torch 2.1's ldexp."
    torch.manual_seed(0)
    s, t = torch.randn(50, 3, dtype=torch.float64), torch.tensor([0.1, -0.2, 0.05], dtype=torch.float64)
    ref = stats.z_scores(s, t)
    monkeypatch.setattr(torch, 'ldexp', _ldexp_of_torch_2_1)
    for k in (-1000, -500, -200, 200, 900):
        assert torch.equal(stats.z_scores(s * 2. ** k, t * 2. ** k), ref), k

def test_compiled_kernels_not_used_under_autocast_on_an_unchecked_torch(monkeypatch):
    """On a torch older than the one the compiled kernels were checked on under autocast (torch 2.1's compiled head
    gave wrong gradients there), autocast takes the eager path: 'compiled' warns, 'auto' does not, and the gradients
    are those of the eager backend bit for bit."""
    from sbn_estimators.sbn_conv import SBNConvNet
    from sbn_estimators.estimators import estimator
    on_this = TorchVersion(torch.__version__) >= getattr(psa, '_AUTOCAST_CHECKED', TorchVersion('0'))
    with torch.autocast('cpu', torch.bfloat16):
        assert psa.use_compiled('compiled', 1, torch.device('cpu')) == on_this   # this torch: unchanged where it was checked
    monkeypatch.setattr(psa, '_AUTOCAST_CHECKED', TorchVersion('99.0'), raising=False)
    assert psa.use_compiled('compiled', 1, torch.device('cpu'))   # no autocast: the compiled kernels as asked
    with torch.autocast('cpu', torch.bfloat16):
        with pytest.warns(UserWarning, match='under autocast'): assert not psa.use_compiled('compiled', 1, torch.device('cpu'))
        with warnings.catch_warnings():
            warnings.simplefilter('error'); assert not psa.use_compiled('auto', 2 ** 40, torch.device('cpu'))
        assert not psa.use_compiled('eager', 1, torch.device('cpu'))
    calls = []
    for name in ('_flip_losses_fused', 'flip_sum_compiled'):
        f = getattr(psa, name)
        monkeypatch.setattr(psa, name, lambda *a, f=f, name=name: calls.append(name) or f(*a))
    torch.manual_seed(4)
    net = SBNConvNet((2, 8, 8), [(3, 3, 1, 1), (4, 3, 2, 0)], 3)
    x, y = torch.rand(4, 2, 8, 8), torch.randint(0, 3, (4,))
    def grads(backend):
        torch.manual_seed(5); net.zero_grad()
        with warnings.catch_warnings(), torch.autocast('cpu', torch.bfloat16):   # the backward under autocast too
            warnings.simplefilter('ignore')
            estimator('psa', backend=backend).surrogate(net, x, y).backward()
        return [p.grad.clone() for p in net.parameters()]
    eager = grads('eager')
    assert all(torch.equal(g, r) for g, r in zip(grads('compiled'), eager)) and calls == []

def test_type_name_of_a_parametrised_builtin():
    "On Python 3.10 `isinstance(list[int], type)` is True: the name must still be 'list[int]', not 'list'."
    assert cli._type_name(list[int]) == 'list[int]' and cli._type_name(dict[str, float]) == 'dict[str, float]'
    assert cli._type_name(int) == 'int' and cli._type_name(type(None)) == 'NoneType'
