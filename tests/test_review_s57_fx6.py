"Review s57 fx6: mismatch refuses a single example without its batch dimension (and outputs that are not one row per example); sign_pm, flip_ratio, bernoulli_weights, weight_scale and clip_latent_ refuse bool, integer and numpy arguments."
import numpy as np, pytest, torch
from torch import nn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch
from sbn_estimators.straight_through import sign_pm
from sbn_estimators.binary_weights import flip_ratio, bernoulli_weights, weight_scale, clip_latent_


def fails(f, *parts):
    with pytest.raises(ValueError) as e: f()
    for p in parts: assert p in str(e.value), (p, str(e.value))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), BinaryActivation('st'), nn.Linear(5, 3))

def test_mismatch_single_example_needs_batch_dimension():
    fails(lambda: mismatch(_model(), torch.randn(4), torch.tensor([0, 1, 2, 0]), samples=40), 'x[None]', '[4]')
    fails(lambda: mismatch(_model(), torch.tensor(1.), torch.tensor([0]), samples=40), 'x: inputs must be a batch')

def test_mismatch_numpy_x_message():
    fails(lambda: mismatch(_model(), np.zeros((2, 4), dtype=np.float32), torch.tensor([0, 1]), samples=40), 'shape [B, ...]', 'ndarray')

def test_mismatch_outputs_one_row_per_example():
    class Flat(nn.Module):   # [B, 4] -> [B * 3]: not one row per example
        def __init__(self): super().__init__(); self.l = nn.Linear(4, 3)
        def forward(self, x): return self.l(x).flatten()
    fails(lambda: mismatch(Flat(), torch.randn(2, 4), torch.tensor([0, 1]), samples=4), 'model: its outputs', '[6]', '[2, n_out]')

def test_mismatch_still_works():
    r = mismatch(_model(), torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), samples=8, chunk=4)
    assert set(r['cos']['own']) == {'0.weight', '2.weight'}

@pytest.mark.parametrize('dtype', [torch.bool, torch.uint8, torch.int64])
def test_flip_ratio_refuses_non_float(dtype):
    b, a = torch.tensor([True, False, True]).to(dtype), torch.tensor([False, True, False]).to(dtype)
    fails(lambda: flip_ratio(b, a), 'before', 'floating-point', str(dtype))
    fails(lambda: flip_ratio(b.float(), a), 'after', str(dtype))
    fails(lambda: flip_ratio([b.float(), b.float()], [a.float(), a]), 'after[1]', str(dtype))

def test_flip_ratio_bool_hint_and_numpy():
    fails(lambda: flip_ratio(torch.tensor([True]), torch.tensor([False])), 'before.float() * 2 - 1')
    fails(lambda: flip_ratio(np.array([1., -1]), np.array([1., 1])), 'before', 'ndarray', 'torch.as_tensor')
    assert flip_ratio(torch.tensor([1., -1]), torch.tensor([1., 1])) == 0.5

@pytest.mark.parametrize('dtype', [torch.bool, torch.uint8, torch.int64])
def test_sign_pm_refuses_non_float(dtype):
    fails(lambda: sign_pm(torch.tensor([True, False]).to(dtype)), 'a must be a floating-point tensor', str(dtype))

def test_sign_pm_refuses_numpy():
    fails(lambda: sign_pm(np.array([1., -1.])), 'a must be a torch.Tensor', 'ndarray')

def test_binary_weight_helpers_refuse_non_float():
    fails(lambda: bernoulli_weights(np.zeros(3)), 'eta must be a torch.Tensor', 'ndarray')
    fails(lambda: bernoulli_weights(torch.zeros(3, dtype=torch.long)), 'eta must be a floating-point tensor', 'torch.int64')
    fails(lambda: weight_scale(torch.tensor([[1, 2], [3, 4]]), 'channel'), 'latent must be a floating-point tensor', 'torch.int64')
    fails(lambda: weight_scale(np.ones((2, 2)), 'tensor'), 'latent must be a torch.Tensor')
    fails(lambda: clip_latent_(torch.tensor([3, -5]), 1), 'params must be a floating-point tensor', 'torch.int64')
    w, bad = torch.tensor([3., -5.]), torch.tensor([3, -5])
    fails(lambda: clip_latent_([w, bad], 1), 'params[1]')
    assert w.tolist() == [3., -5.]   # refused before any tensor is clipped
    clip_latent_([w], 1); assert w.tolist() == [1., -1.]
