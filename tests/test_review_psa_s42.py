"""Review (psa s42): the compiled PSA kernels never run as plain PyTorch (dynamo's recompile limit, sizes 1, duck
shapes), 'auto' weighs a conv layer's whole flip sum, sbn-bench records psa's backend and checks its arguments first."""
import functools, math, warnings
import pytest
import torch
import torch.nn.functional as F
from sbn_estimators import psa, sbn_conv
from sbn_estimators.core import NOISES, LOSSES
from sbn_estimators.psa import flip_sum, flip_sum_eager, flip_losses
from sbn_estimators.sbn_conv import conv_flip_backward
from sbn_estimators.bench import bench_cli, peak_step_memory, run_cases

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def mib(step): return peak_step_memory(step, 'cpu') / 2 ** 20

def flip_case(N, K, C, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randint(0, 2, (N, K), generator=g) * 2 - 1).to(dtype)
    a, gt = torch.randn(2, N, C, generator=g, dtype=dtype)
    return x, a, gt, torch.randn(C, K, generator=g, dtype=dtype) / math.sqrt(K)

# ---- no needless graphs (two compilations, shared with every other test of the process; before the tests
# below, which leave the kernels at their limit)

def test_sizes_1_and_unequal_sizes_reuse_the_graph(caplog):
    """Sizes of 1 (rows, inputs, outputs) and sizes unequal where the first call had them equal reuse the kernel's
    graph: with no recompilation allowed, none hits the limit, and all give the eager sums."""
    nz = NOISES['logistic']
    flip_sum(*flip_case(6, 6, 6), nz, backend='compiled')   # compiles (duck shaping would tie N, K and C)
    caplog.clear(); before = set(getattr(psa, '_UNCOMPILED', ()))
    with torch._dynamo.config.patch(recompile_limit=0):
        for N, K, C in ((5, 7, 9), (1, 7, 9), (5, 1, 9), (5, 7, 1), (1, 1, 1)):
            args = flip_case(N, K, C, seed=N + K + C)
            torch.testing.assert_close(flip_sum(*args, nz, backend='compiled'), flip_sum_eager(*args, nz))
        hits = [r.getMessage() for r in caplog.records if 'recompile_limit' in r.getMessage()]
        assert not hits and set(getattr(psa, '_UNCOMPILED', ())) == before, hits
        for N, K, C in ((0, 3, 4), (3, 4, 0)):   # nothing to sum: no graph either
            args = flip_case(N, K, C)
            torch.testing.assert_close(flip_sum(*args, nz, backend='compiled'), flip_sum_eager(*args, nz))

def test_head_blocks_of_one_unit_reuse_the_graph(monkeypatch, caplog):
    "The head's last block of units can hold one unit: it reuses the compiled graph of the other blocks."
    g = torch.Generator().manual_seed(1)
    def head(B, out, n):
        a0, V = torch.randn(B, out, generator=g).requires_grad_(), torch.randn(out, n, generator=g).requires_grad_()
        xf, y = (torch.randint(0, 2, (B, n), generator=g) * 2 - 1).float(), torch.randint(0, out, (B,), generator=g)
        got = flip_losses(a0, xf, V, y, LOSSES['cross_entropy'], 'compiled')
        torch.testing.assert_close(got, flip_losses(a0, xf, V, y, LOSSES['cross_entropy'], 'eager'))
        torch.testing.assert_close(torch.autograd.grad(got.sum(), (a0, V)),
                                   torch.autograd.grad(flip_losses(a0, xf, V, y, LOSSES['cross_entropy'], 'eager').sum(), (a0, V)))
    monkeypatch.setattr(psa, 'PSA_HEAD_CHUNK', 24)   # B out units per block: 2 units at B = 4, out = 3
    head(4, 3, 4)                                    # blocks of 2 and 2 (compiles)
    caplog.clear()
    with torch._dynamo.config.patch(recompile_limit=0):
        head(4, 3, 5)                                # 2, 2 and 1
    assert not [r for r in caplog.records if 'recompile_limit' in r.getMessage()]

# ---- the compiled kernels at dynamo's recompile limit (no compilation: a fresh kernel and a limit of 0)

def test_flip_sum_at_the_recompile_limit_stays_chunked(monkeypatch):
    """Past dynamo's recompile limit torch.compile runs the kernel as plain PyTorch, which formed the [N, K, C] tensor
    (16 MiB here, 390 MiB in the review's case): the call now takes the chunked eager path, with a warning."""
    monkeypatch.setattr(psa, '_compiled', functools.cache(psa._compiled.__wrapped__))   # a kernel without graphs
    args, nz = flip_case(64, 256, 256), NOISES['logistic']
    out = {}
    with torch._dynamo.config.patch(recompile_limit=0), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        peak = mib(lambda: out.setdefault('r', flip_sum(*args, nz, backend='compiled')))
    # the chunked path holds about two term tensors of PSA_CHUNK float32 entries (2.1 MiB); the full tensor alone is
    # 16 MiB (an absolute bound: a ratio to an eager run profiled apart read low once in CI, see the test below)
    assert peak < 3 * psa.PSA_CHUNK * 4 / 2 ** 20, peak
    assert any('does not compile _flip_sum_logistic' in str(m.message) for m in w)
    torch.testing.assert_close(out['r'], flip_sum_eager(*args, nz))

def test_flip_losses_at_the_recompile_limit_recompute_blocks(monkeypatch):
    """The head's blocks at the limit ran uncompiled and kept every block's graph for the backward (5.0 MiB here against 2.8).
    A loss of its own: no graph of the head matches its calls, and none may be compiled. Each block goes through the
    checkpoint (recomputed in the backward), and the step's peak stays below 1.6 times the full [units, B, out] tensor
    (2.5 MiB), which the kept graphs exceed; not a ratio to an eager run measured apart, whose profiled peak once came
    out at 1.29 MiB in CI against 2.82 everywhere else."""
    g = torch.Generator().manual_seed(0)
    B, out, n = 128, 10, 512
    a0, V = torch.randn(B, out, generator=g).requires_grad_(), torch.randn(out, n, generator=g).requires_grad_()
    xf, y = (torch.randint(0, 2, (B, n), generator=g) * 2 - 1).float(), torch.randint(0, out, (B,), generator=g)
    loss, res, calls = (lambda eta, t: LOSSES['cross_entropy'](eta, t)), {}, []
    real = psa.checkpoint
    monkeypatch.setattr(psa, 'checkpoint', lambda *a, **k: calls.append(1) or real(*a, **k))
    def step(backend):
        r = flip_losses(a0, xf, V, y, loss, backend); r.sum().backward(); res[backend] = r.detach()
    step('eager')
    with torch._dynamo.config.patch(recompile_limit=0), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        calls.clear()
        peak = mib(lambda: step('compiled'))
    assert len(calls) == math.ceil(n / (psa.PSA_HEAD_CHUNK // (B * out))) == 6, len(calls)
    assert peak < 1.6 * n * B * out * 4 / 2 ** 20, peak
    assert any('does not compile _flip_losses' in str(m.message) for m in w)
    torch.testing.assert_close(res['compiled'], res['eager'])

def test_dynamo_disabled_takes_the_eager_path(monkeypatch):
    monkeypatch.setattr(psa, '_compiled', functools.cache(psa._compiled.__wrapped__))
    args, nz = flip_case(64, 256, 256), NOISES['logistic']
    with torch._dynamo.config.patch(disable=True):
        peak = mib(lambda: flip_sum(*args, nz, backend='compiled'))
    assert peak < 8, peak

def test_eager_flip_sum_of_empty_sizes():
    "Sizes 0 (no rows, inputs, outputs or samples): zeros of the right shape, not a division by zero."
    nz = NOISES['normal']
    for S, N, K, C in ((0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)):
        x, a, gt, W = torch.ones(S, N, K), torch.ones(S, N, C), torch.ones(S, N, C), torch.ones(S, C, K)
        r = flip_sum_eager(x, a, gt, W, nz)
        assert r.shape == (S, N, K) and not r.any()

# ---- 'auto' on a conv layer: the layer's sum, not each group's

def test_auto_compiles_a_conv_layer_whose_groups_are_small(monkeypatch):
    "SBNConvNet((3,32,32), [(16,3,1,1)]*2) at batch 16 split layer 2's 38M terms into groups of 2.4M, below 2^23: never compiled."
    calls = []
    monkeypatch.setattr(psa, 'compiler_works', lambda device_type: True)
    monkeypatch.setattr(psa, 'flip_sum_compiled', lambda *a: calls.append(a[0].shape) or flip_sum_eager(*a))
    g = torch.Generator().manual_seed(0)
    B, cin, cout, hw = 4, 3, 5, 6
    x_in = torch.randint(0, 2, (B, cin, hw, hw), generator=g).float() * 2 - 1
    W = torch.randn(cout, cin, 3, 3, generator=g)
    a = F.conv2d(x_in, W, padding=1)
    x_out, gr = torch.randint(0, 2, a.shape, generator=g).float() * 2 - 1, torch.randn(a.shape, generator=g)
    terms = B * hw * hw * cin * 9 * cout   # the layer's flip sum
    monkeypatch.setattr(sbn_conv, 'PSA_COLS', hw * hw * cin * 9)   # one example per group
    monkeypatch.setattr(psa, 'PSA_COMPILE_MIN', terms // 2)         # each group's quarter is below it, the layer above
    ref = conv_flip_backward(gr, x_in, x_out, a, W, NOISES['logistic'], 1, 1, backend='eager')
    assert not calls
    torch.testing.assert_close(conv_flip_backward(gr, x_in, x_out, a, W, NOISES['logistic'], 1, 1, backend='auto'), ref)
    assert len(calls) == B, calls
    calls.clear(); monkeypatch.setattr(psa, 'PSA_COMPILE_MIN', terms + 1)
    conv_flip_backward(gr, x_in, x_out, a, W, NOISES['logistic'], 1, 1, backend='auto')
    assert not calls

# ---- sbn-bench and run_cases

def test_rows_record_the_backend_psa_ran_with(monkeypatch):
    monkeypatch.setenv('PSA_BACKEND', 'eager')
    st, p, pe = run_cases('fc', ['st', 'psa', 'psa:backend=auto'], batch=2, repeats=3, threads=1)
    assert p['params'] == {'backend': 'eager'} and pe['params'] == {'backend': 'auto'}, (p['params'], pe['params'])
    assert st['params'] == {'noise': 'logistic', 'deterministic': False}
    monkeypatch.delenv('PSA_BACKEND')
    assert run_cases('fc', ['st', 'psa'], batch=2, repeats=3, threads=1)[1]['params'] == {'backend': 'auto'}

@pytest.mark.parametrize('kw, message', [
    (dict(dtype='foo'), "dtype must be one of float32, float64, got 'foo'"),
    (dict(device='cuda:99'), "device: 'cuda:99'"),
    (dict(device='meta'), "device: 'meta' is not supported; valid: cpu, cuda"),
    (dict(repeats=2.5), "repeats must be a positive integer, got 2.5"),
    (dict(batch=2.5), "batch must be a positive integer (None: the network's default), got 2.5"),
    (dict(threads=0), "threads must be a positive integer (None: torch's), got 0"),
    (dict(seed=0.5), "seed must be an integer, got 0.5"),
    (dict(specs=[]), "specs must be a non-empty list of estimator specs"),
    (dict(specs='st'), "specs must be a non-empty list of estimator specs"),
])
def test_run_cases_checks_its_arguments(kw, message):
    a = {**dict(net='fc', specs=['st'], batch=2, repeats=3, threads=1), **kw}
    with pytest.raises(ValueError) as e: run_cases(**a)
    assert message in str(e.value), str(e.value)

def test_run_cases_refuses_a_bad_psa_backend_before_any_work(monkeypatch):
    monkeypatch.setenv('PSA_BACKEND', 'fast')
    monkeypatch.setattr('sbn_estimators.bench.bench_problem', lambda *a, **k: pytest.fail('built the problem'))
    with pytest.raises(ValueError, match=r"got 'fast' \(from the PSA_BACKEND environment variable\)"):
        run_cases('fc', ['st', 'psa'], batch=2, repeats=3, threads=1)

def refused(capsys, *args):
    with pytest.raises(SystemExit) as e: bench_cli(list(args))
    return e.value.code, capsys.readouterr().err

def test_cli_refuses_a_bad_psa_backend_up_front(monkeypatch, capsys):
    monkeypatch.setenv('PSA_BACKEND', 'fast')
    monkeypatch.setattr('sbn_estimators.bench._child_cases', lambda kwargs: pytest.fail('ran a case'))
    code, err = refused(capsys, '--nets', 'fc', '--estimators', 'st,psa', '--batch', '2', '--devices', 'cpu')
    assert code == 2 and err.count('\n') == 1 and "got 'fast' (from the PSA_BACKEND environment variable)" in err, err

def test_cli_warns_only_once_the_options_are_accepted(capsys):
    code, err = refused(capsys, '--nets', 'fc', '--repeats', '1', '--devices', 'gpu')
    assert code == 2 and err == "sbn-bench: error: --devices: 'gpu' is not a device (cpu, cuda, cuda:N)\n", err
    code, err = refused(capsys, '--nets', 'fc', '--estimators', 'float', '--devices', 'cpu', '--json', '')
    assert code == 2 and err.count('\n') == 1 and 'warning' not in err, err
