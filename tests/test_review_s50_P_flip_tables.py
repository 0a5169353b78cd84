"""The compiled logistic flip sum holds two weight-sized tables while its kernel runs, E+ = e^{2W^T} and
E- = e^{-2W^T}, not also the contiguous copy of W^T they were made from (review s50: that copy was a third of
PSA's compiled-path memory above ST's on the benchmark's fully connected network, 2.24x ST's peak)."""
import gc
import pytest
import torch
from sbn_estimators import psa
from sbn_estimators.core import get_noise
from sbn_estimators.psa import flip_sum_compiled, flip_sum_eager, compiler_works

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def _storages(min_numel):
    "Data pointers of the storages of every live tensor with at least `min_numel` elements' bytes."
    out = set()
    for o in gc.get_objects():
        if type(o) in (torch.Tensor, torch.nn.Parameter) and o.device.type == 'cpu':   # not the compiler's fake tensors
            st = o.untyped_storage()
            if st.nbytes() >= min_numel * o.element_size(): out.add(st.data_ptr())
    return out

@pytest.mark.skipif(not compiler_works('cpu'), reason='torch.compile does not work here')
@pytest.mark.parametrize('shared', [True, False])
def test_logistic_kernel_holds_two_weight_tables(monkeypatch, shared):
    g = torch.Generator().manual_seed(0)
    S, N, K, C = (1, 6, 37, 53) if shared else (3, 6, 37, 53)
    lead = () if shared else (S,)
    x = torch.randint(0, 2, (*lead, N, K), generator=g).float() * 2 - 1
    a, gt = torch.randn(*lead, N, C, generator=g), torch.randn(*lead, N, C, generator=g)
    W = 0.3 * torch.randn(*lead, C, K, generator=g)   # the caller's weights: not a temporary
    seen = []
    real = psa._fused
    def spy(f, *args):   # the moment the compiled kernel runs: the weight-sized buffers made for it
        seen.append(_storages(S * K * C) - before)
        return real(f, *args)
    monkeypatch.setattr(psa, '_fused', spy)
    gc.collect()
    before = _storages(S * K * C)
    got = flip_sum_compiled(x, a, gt, W, get_noise('logistic'))
    assert len(seen) == 1, "the compiled kernel did not run"
    assert len(seen[0]) == 2, f"{len(seen[0])} weight-sized buffers live while the kernel runs; expected 2 (E+, E-)"
    torch.testing.assert_close(got, flip_sum_eager(x, a, gt, W, get_noise('logistic')), rtol=1e-5, atol=1e-5)
