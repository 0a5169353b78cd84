"Review s49 (fixD): train leaves the caller's random numbers alone; one `core.training_modes` gives every module its own training flag back (evaluate, evaluate_posterior, mismatch, init_normalize_), also after an error; sbn-train --threads in-process gives the thread count back; lr_search loads matplotlib only to plot; float64 losses stay float64 in the trainer; a half-precision cross-entropy is formed in float32."
import subprocess, sys
import pytest, torch
from torch import nn
from conftest import ROOT, sbn_train as cli
import sbn_estimators.core as core
from sbn_estimators.core import cross_entropy_loss
from sbn_estimators.data import cos_dataset, digits_data
from sbn_estimators.estimators import estimator
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.models import get_model, init_normalize_
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups
from sbn_estimators.mismatch import mismatch, proxy_estimator
from sbn_estimators.train import TrainConfig, train, evaluate, evaluate_posterior, _step

torch.set_num_threads(1)


# --- 1. train draws from its own seed: the caller's stream goes on ---------------------------------------------------

def test_train_leaves_the_callers_random_numbers():
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=1, eval_samples=1, n_train=200, val=50, seed=0)
    torch.manual_seed(123); torch.rand(3); expected = torch.rand(5)   # what the caller draws next without the run
    torch.manual_seed(123); torch.rand(3)
    r1 = train(cfg, progress=False)
    assert torch.equal(torch.rand(5), expected)   # was: the stream of seed 0 after the run
    torch.manual_seed(7)
    r2 = train(cfg, progress=False)   # the run itself still depends on its seed only
    assert r1['test_loss'] == r2['test_loss'] and r1['test_acc'] == r2['test_acc']


def test_train_smoke_leaves_the_callers_random_numbers():
    torch.manual_seed(5); expected = torch.rand(4)
    torch.manual_seed(5)
    train(TrainConfig(model='sbn_mlp:width=8', epochs=1, eval_samples=1), smoke=True, progress=False)
    assert torch.equal(torch.rand(4), expected)


# --- 2. every module's own training flag back, also after an error ----------------------------------------------------

def frozen(net):
    "`net` in training mode with its batch norms frozen (eval); returns the modes."
    net.train()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d): m.eval()
    return [m.training for m in net.modules()]


def test_training_modes_restores_each_module_also_after_an_error():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)); modes = frozen(net)
    with pytest.raises(KeyboardInterrupt):
        with core.training_modes(net, False):
            assert not any(m.training for m in net.modules())
            raise KeyboardInterrupt
    assert [m.training for m in net.modules()] == modes == [True, True, False]


def test_evaluate_keeps_a_frozen_batch_norm_frozen():
    d = digits_data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10)); modes = frozen(net)
    evaluate(net, d, 'val', samples=1, seed=0)
    assert [m.training for m in net.modules()] == modes   # was: the batch norm back in training mode


def test_evaluate_gives_the_modes_back_after_an_interrupt():
    d = digits_data()
    net = nn.Sequential(nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10)); modes = frozen(net)
    h = net[0].register_forward_hook(lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt): evaluate(net, d, 'val', samples=1, seed=0)
    h.remove()
    assert [m.training for m in net.modules()] == modes   # was: every module left in evaluation mode


def test_evaluate_posterior_keeps_a_frozen_batch_norm_frozen():
    data = cos_dataset()
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(2, 4), nn.BatchNorm1d(4), BinaryWeightLinear(4, 1)); modes = frozen(net)
    opt = BayesBiNN(binary_param_groups(net), train_size=len(data.splits['train'][1]))
    evaluate_posterior(net, opt, data, 'test', samples=2)
    assert [m.training for m in net.modules()] == modes


def test_mismatch_keeps_a_frozen_batch_norm_frozen():
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(16, 10))
    x, y = torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g)
    net.eval(); net[1].train()   # evaluated, its batch norm in training mode
    modes = [m.training for m in net.modules()]
    mismatch(net, x, y, proxies=['st'], samples=4, names=['3.weight'])
    assert [m.training for m in net.modules()] == modes   # was: net[1] left in evaluation mode (net.train(False) sets every module)


def test_init_normalize_keeps_a_frozen_batch_norm_frozen():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)); modes = frozen(net)
    init_normalize_(net, torch.randn(16, 4))
    assert [m.training for m in net.modules()] == modes


# --- 3. sbn-train --threads, called in-process ---------------------------------------------------------------------

def test_train_cli_gives_the_thread_count_back(capsys):
    torch.set_num_threads(1)
    try:
        code, out, err = cli(capsys, '--threads', '2', '--model', 'sbn_mlp:width=8', '--eval-samples', '1', '--smoke')
        assert code == 0, err
        assert torch.get_num_threads() == 1   # was: 2, the command's
    finally: torch.set_num_threads(1)


# --- 4. lr_search loads matplotlib only to plot ----------------------------------------------------------------------

def test_lr_search_imports_without_matplotlib():
    code = "import sys, sbn_estimators.lr_search; print(sorted(m for m in ('matplotlib', 'PIL') if m in sys.modules))"
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == '[]', r.stdout


# --- 5. float64 losses stay float64 in the trainer -------------------------------------------------------------------

def test_float64_step_equals_the_surrogate():
    net = get_model('sbn_mlp:width=16,dtype=float64', 'st', in_shape=(64,))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 64, generator=g, dtype=torch.float64), torch.arange(32) % 10
    est = estimator('st')
    torch.manual_seed(0); sur, loss, _ = _step(net, est, x, y, 'cross_entropy', True)
    torch.manual_seed(0); ref = est.surrogate(net, x, y)
    assert sur.dtype == loss.dtype == ref.dtype == torch.float64   # was: float32
    assert sur.item() == ref.item()


def test_float64_evaluation_loss_is_float64():
    d = digits_data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10)).double()
    r = evaluate(net, d, 'val', samples=1, seed=0)
    X, y = d.splits['val']
    with torch.no_grad(): eta = net(d.input(X, torch.float64))
    assert r['det_loss'] == cross_entropy_loss(eta, y).sum().item() / len(y)   # in float64 (was: the float32 loss)


# --- 6. a half-precision cross-entropy is formed in float32 ----------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_cross_entropy_gradient(dtype):
    torch.manual_seed(0)
    for logits in (torch.tensor([[1e4, 1e4, 0.]]), torch.randn(64, 10) * 30):
        eta = logits.to(dtype).requires_grad_()
        y = torch.arange(len(eta)) % eta.shape[-1] if len(eta) > 1 else torch.tensor([1])
        loss = cross_entropy_loss(eta, y)
        assert loss.dtype == dtype
        loss.sum().backward()
        exact = eta.detach().double()   # the exact gradient on the same rounded logits: softmax - one-hot
        want = exact.softmax(-1) - nn.functional.one_hot(y, eta.shape[-1]).double()
        tol = 4 * torch.finfo(dtype).eps
        assert (eta.grad.double() - want).abs().max().item() <= tol   # was: [1, 0, 0] for the first, not [0.5, -0.5, 0]
        ref = nn.functional.cross_entropy(exact, y, reduction='none')
        assert torch.allclose(loss.double(), ref, rtol=tol, atol=tol * 10)


def test_float_cross_entropy_is_unchanged():
    "float32 and float64 logits: the same formula in their own dtype, bit for bit."
    torch.manual_seed(1)
    for dtype in (torch.float32, torch.float64):
        eta, y = torch.randn(3, 8, 5, dtype=dtype), torch.randint(0, 5, (8,))
        old = eta.logsumexp(-1) - eta.gather(-1, y.expand(3, 8)[..., None]).squeeze(-1)
        assert torch.equal(cross_entropy_loss(eta, y), old)
