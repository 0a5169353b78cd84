"Host-device synchronisations per training step: RODEO's path indices built on the device, CIFAR-10's transforms with cached constants and no per-batch checks, `_takes_dtype` asked once per callable, Bop's and BayesBiNN's gradient check off when the trainer has done it (`check_grads`), `accuracy_curves` read at once. Values unchanged."
import collections, gc, inspect
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from sbn_estimators import data as D
from sbn_estimators.binary_optimizers import BayesBiNN, Bop, make_bayesbinn, make_bop
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.data import Data, cifar10_data, flip_crop, write_fake_cifar10
from sbn_estimators.gradeval import _cosines, _norm, _pow2_scale, accuracy_curves
from sbn_estimators.rodeo import neighbour_linearisations

torch.set_num_threads(1)
T = torch.Tensor
SYNCS = {T.item: 'item', T.__bool__: '__bool__', T.__float__: '__float__', T.__int__: '__int__', T.__index__: '__index__',
         T.tolist: 'tolist', T.cpu: 'cpu', T.numpy: 'numpy'}


class Count(TorchFunctionMode):
    "Python-level host syncs (`syncs`), tensors made from Python data (`made`), and `.to` calls that name a device and copy (`to_device`)."
    def __init__(self):
        super().__init__(); self.syncs, self.made, self.to_device = collections.Counter(), 0, 0
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in SYNCS: self.syncs[SYNCS[func]] += 1
        if func in (torch.tensor, torch.as_tensor) and args and not isinstance(args[0], torch.Tensor): self.made += 1
        r = func(*args, **kwargs)
        if func is T.to and r is not args[0] and ('device' in kwargs or any(isinstance(a, (torch.device, str)) for a in args[1:])):
            self.to_device += 1   # a copy that names a device (on a GPU, a host-to-device one for constants kept on the CPU)
        return r


# 1. RODEO: the (k, m) path indices
def _reference_indices(K):
    return [torch.tensor(v) for v in zip(*[(k, m) for k in range(K) for m in range(K) if m != k])]

@pytest.mark.parametrize('K', [2, 3, 4, 5, 8])
def test_neighbour_linearisations_builds_no_tensor_from_python_data(K):
    x = torch.where(torch.rand(K, 3, 5) < 0.5, 1., -1.)
    d, f = torch.randn(K, 3, 5), torch.randn(K, 3)
    with Count() as c: out = neighbour_linearisations(x, d, f)
    assert c.made == 0 and not c.syncs   # was: two torch.tensor(list) per call, each a blocking host-to-device copy on a GPU
    ks, ms = _reference_indices(K)       # the same paths as the list-built indices, in the same order
    c0 = (d[ms] * (x[ks] - x[ms])).sum(-1, keepdim=True)
    ref = torch.stack([torch.cat([c0 - 2 * d[ms] * x[ks], c0], -1), f[ms].unsqueeze(-1).expand(-1, -1, 6)], -1).unflatten(0, (K, K - 1))
    assert torch.equal(out, ref)


# 2. CIFAR-10: mean, std and the black padding cached per device and dtype; the augmentation skips flip_crop's checks
@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cifar')
    write_fake_cifar10(tmp, n_per_batch=8)
    return tmp

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_cifar10_batches_make_no_sync_and_no_device_copy_after_the_first(cifar, dtype):
    cd = cifar10_data(cifar, val=8, normalize=True)
    X = cd.splits['train'][0][:4]
    cd.input(X, dtype, train=True)   # the first batch copies the constants to the device
    with Count() as c:
        for _ in range(3): cd.input(X, dtype, train=True)
    assert not c.syncs and c.to_device == 0, (c.syncs, c.to_device)   # was: flip_crop's fill check (.cpu(), bool) and 3 copies per batch

def test_cifar10_augmented_padding_is_still_the_preprocessed_black(cifar):
    for normalize in (False, True):
        cd = cifar10_data(cifar, val=8, normalize=normalize)
        for dtype in (torch.float32, torch.float64):
            white = cd.input(torch.full((64, 3, 32, 32), 255, dtype=torch.uint8), dtype, train=True)
            black = cd.input(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), dtype)[0, :, :1, :1]
            full = cd.input(torch.full((1, 3, 32, 32), 255, dtype=torch.uint8), dtype)[0, :, :1, :1]
            for ch in range(3):
                assert set(white[:, ch].unique().tolist()) == {black[ch].item(), full[ch].item()}

def test_public_flip_crop_keeps_its_checks():
    with pytest.raises(ValueError, match='integers in 0..255'): flip_crop(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), fill=-1)
    with pytest.raises(ValueError, match=r'fill must be a number or a tensor \[C, 1, 1\]'): flip_crop(torch.zeros(2, 3, 4, 4), fill=torch.zeros(2, 1, 1))


# 3. _takes_dtype: inspect.signature once per callable, not per batch
def test_data_input_asks_the_transform_signature_once(monkeypatch):
    calls = []
    real = inspect.signature
    monkeypatch.setattr(D.inspect, 'signature', lambda f, *a, **k: calls.append(f) or real(f, *a, **k))
    def t(X, dtype=torch.float32): return X.to(dtype) / 2
    data = Data('x', {'train': (torch.zeros(4, 3, dtype=torch.uint8), torch.zeros(4))}, n_out=1, transform=t)
    for _ in range(5): data.input(data.splits['train'][0])
    assert len(calls) <= 1   # was: once per batch

class _NoWeakref:
    __slots__ = ('dt',)   # no __weakref__: asked each time, still right
    def __init__(self, dt): self.dt = dt
    def __call__(self, X, dtype=None): return X

def test_takes_dtype_is_right_for_any_callable_and_reused_ids():
    import functools
    assert D._takes_dtype(_NoWeakref(0)) and D._takes_dtype(_NoWeakref(0))
    assert D._takes_dtype(functools.partial(lambda X, dtype: X)) and not D._takes_dtype(functools.partial(lambda X: X))
    assert not D._takes_dtype(len) and not D._takes_dtype(object())
    for i in range(50):   # functions made and dropped in turn reuse ids: the answer is the live one's
        f = (lambda X, dtype=None: X) if i % 2 else (lambda X: X)
        assert D._takes_dtype(f) == bool(i % 2)
        del f; gc.collect()


# 4. Bop and BayesBiNN: check_grads
def _layer():
    torch.manual_seed(0)
    return BinaryWeightLinear(4, 3, bias=False)

CFG = type('Cfg', (), dict(lr=1e-3, weight_decay=0.))()
BUILD = {'bop': (lambda ps, **k: Bop(ps, **k), lambda ps, **k: make_bop(ps, CFG, **{'check_grads': False, **k})),   # second: as sbn-train runs it (check off)
         'bayesbinn': (lambda ps, **k: BayesBiNN(ps, train_size=10, **k), lambda ps, **k: make_bayesbinn(ps, CFG, train_size=10, **{'check_grads': False, **k}))}

@pytest.mark.parametrize('who', list(BUILD))
def test_standalone_optimizer_still_refuses_a_non_finite_gradient(who):
    layer = _layer()
    opt = BUILD[who][0]([{'params': [layer.weight], 'binary': True}])
    layer.weight.grad = torch.full_like(layer.weight, float('nan'))
    with pytest.raises(ValueError, match='is not finite'): opt.step()
    opt2 = BUILD[who][1]([{'params': [layer.weight], 'binary': True}], check_grads=True)   # a factory's keyword turns it back on
    with pytest.raises(ValueError, match='is not finite'): opt2.step()

@pytest.mark.parametrize('who', list(BUILD))
def test_factory_built_optimizer_steps_without_host_sync(who):
    layer = _layer()
    opt = BUILD[who][1]([{'params': [layer.weight], 'binary': True}])
    layer.weight.grad = torch.randn_like(layer.weight)
    with Count() as c: opt.step()
    assert not c.syncs, c.syncs   # was: _check_grads' one sync per step
    std = BUILD[who][0]([{'params': [_layer().weight], 'binary': True}])
    std.param_groups[0]['params'][0].grad = torch.randn(3, 4)
    with Count() as c: std.step()
    assert sum(c.syncs.values()) == 1   # standalone: the check's one sync

@pytest.mark.parametrize('who', list(BUILD))
def test_check_grads_is_the_constructors_and_survives_state_dicts_copies_and_pickles(who):
    import copy, pickle
    std, fac = BUILD[who]
    a, b = fac([{'params': [_layer().weight], 'binary': True}]), std([{'params': [_layer().weight], 'binary': True}])
    assert (a.check_grads, b.check_grads) == (False, True)
    sa, sb = a.state_dict(), b.state_dict()
    assert all('check_grads' not in g for g in sa['param_groups'])   # not a group's hyper-parameter (those are numbers)
    a.load_state_dict(sb); b.load_state_dict(sa)                    # a resumed run keeps what its constructor said
    assert (a.check_grads, b.check_grads) == (False, True)
    for c in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert c.check_grads is False
        c.param_groups[0]['params'][0].grad = torch.randn(3, 4)
        with Count() as n: c.step()
        assert not n.syncs
    assert copy.deepcopy(b).check_grads is True

@pytest.mark.parametrize('who', list(BUILD))
def test_check_grads_must_be_a_bool(who):
    for v in (1, None, 'no'):
        with pytest.raises(ValueError, match=f"check_grads must be True or False .*got {v!r}"): BUILD[who][0]([{'params': [_layer().weight], 'binary': True}], check_grads=v)


# 5. accuracy_curves: one read for all M
def _old_curves(est, exact, Ms):
    est, exact = est.double(), exact.double()
    s = _pow2_scale(torch.maximum(est.abs().max(), exact.abs().max()))
    est, exact = est / s, exact / s
    out = dict(M=Ms, rel_rmse=[], cos=[], cos_q15=[], cos_q85=[])
    for M in Ms:
        n = len(est) // M
        avg = est[0] + (est[:n * M] - est[0]).view(n, M, -1).mean(1)
        cos = _cosines(avg, exact)
        out['rel_rmse'].append((((avg - exact) ** 2).sum(1).mean().sqrt() / _norm(exact)).item())
        out['cos'].append(cos.mean().item())
        q = torch.quantile(cos, torch.tensor([0.15, 0.85], dtype=cos.dtype)) if n > 1 else cos.expand(2)
        out['cos_q15'].append(q[0].item()); out['cos_q85'].append(q[1].item())
    return out

def test_accuracy_curves_reads_once_and_gives_the_same_numbers():
    g = torch.Generator().manual_seed(0)
    exact = torch.randn(7, generator=g, dtype=torch.float64)
    est = exact + torch.randn(60, 7, generator=g, dtype=torch.float64)
    counts = []
    for Ms in ([1], list(range(1, 31)) + [60]):
        with Count() as c: out = accuracy_curves(est, exact, Ms)
        counts.append(sum(c.syncs.values()))
        assert out == _old_curves(est, exact, Ms)   # bit for bit
    assert counts[0] == counts[1], counts   # was: 4 more syncs per M
    Ms = accuracy_curves(est, exact)['M']   # the default grid up to S
    assert accuracy_curves(est.float(), exact.float()) == _old_curves(est.float(), exact.float(), Ms)
