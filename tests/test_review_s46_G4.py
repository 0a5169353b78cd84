"""s46 fix G4: devices checked in one place (core.check_device), binary_states' dtype, 32-bit seeds of cos_data and init_sbn_,
the seeds of forward_backward and bench_problem (which leaves the caller's random state alone), BinaryActivation's eval_mode
docment and check_eval_mode's docstring, catalogue cards with each parameter's meaning, a plugin's derivation path."""
import inspect, subprocess, sys
import numpy as np
import pytest
import torch
from conftest import ROOT
import sbn_estimators.core as core
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_, load_sbn, save_sbn
from sbn_estimators.exact import binary_states, available_memory
from sbn_estimators.bench import bench_problem, run_cases
from sbn_estimators.catalogue import forward_backward, estimator_card, derivation_page
from sbn_estimators.layers import BinaryActivation, check_eval_mode

def fails(f, msg):
    with pytest.raises(ValueError) as e: f()
    assert msg in str(e.value), str(e.value)

NOT_A_DEVICE = "device: 'gpu' is not a device (cpu, cuda, cuda:N)"
NO_CUDA = "device: 'cuda' asked for but CUDA is not available"

def _takers(tmp_path):
    "The public functions of pages 00, 01, 02 and 10c that take a device: `device -> call`."
    X, Y = cos_data(3)
    save_sbn(tmp_path / 'n.npz', SBNMLP([2, 3, 1]), X, Y)
    return {'SBNMLP': lambda d: SBNMLP([2, 3, 1], device=d),
            'load_sbn': lambda d: load_sbn(tmp_path / 'n.npz', device=d), 'binary_states': lambda d: binary_states(2, device=d),
            'available_memory': lambda d: available_memory(d), 'bench_problem': lambda d: bench_problem('fc', 2, device=d),
            'run_cases': lambda d: run_cases('fc', ['st'], device=d, batch=2, repeats=3, threads=1), 'check_device': lambda d: core.check_device(d)}

def test_a_bad_device_is_named(tmp_path):
    "Before: RuntimeError 'Expected one of cpu, cuda, ...' from torch (bench and TrainConfig named the argument, the others did not)."
    for name, f in _takers(tmp_path).items():
        fails(lambda: f('gpu'), NOT_A_DEVICE)
        if name in ('bench_problem', 'run_cases'):   # measured on the device: cpu and cuda only
            fails(lambda: f('meta'), "device: 'meta' is not supported; valid: cpu, cuda")

@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_without_cuda_is_named(tmp_path):
    "Before: AssertionError 'Torch not compiled with CUDA enabled' (RuntimeError on a CUDA build without a GPU)."
    for name, f in _takers(tmp_path).items(): fails(lambda: f('cuda'), NO_CUDA)
    fails(lambda: available_memory('cuda:1'), "device: 'cuda:1' asked for but CUDA is not available")

def test_check_device(monkeypatch):
    assert core.check_device('cpu') == torch.device('cpu') and core.check_device(torch.device('cpu')) == torch.device('cpu')
    assert core.check_device(None) is None
    fails(lambda: core.check_device('cpu:1', 'x', ('cpu', 'cuda')), "x: 'cpu:1': the CPU takes no index; give cpu")
    assert core.check_device('meta') == torch.device('meta') and core.check_device('cpu:0') == torch.device('cpu:0')   # any device torch knows
    fails(lambda: core.check_device(1.5), "device: 1.5 is not a device (cpu, cuda, cuda:N)")
    assert SBNMLP([2, 3, 1], device='cpu').layers[0].weight.device == torch.device('cpu')
    assert binary_states(2, device=torch.device('cpu')).device.type == 'cpu'
    # the default device is the CPU: both read one fixed MemAvailable (two live readings differ as other processes run)
    import io
    from sbn_estimators import exact
    monkeypatch.setattr(exact, 'open', lambda name, *a, **k: io.StringIO("MemAvailable: 8000000 kB\n"), raising=False)
    monkeypatch.setattr(exact, 'Path', lambda p: (_ for _ in ()).throw(FileNotFoundError(p)))   # no container limit
    assert available_memory('cpu') == available_memory() == 8_192_000_000

def test_binary_states_refuses_a_non_float_dtype():
    "Before: dtype='float32' was read as a device (RuntimeError 'Invalid device string'), torch.int64 gave int states."
    for bad in ('float32', torch.int64, torch.bool, None):
        fails(lambda: binary_states(2, dtype=bad), f"dtype must be a floating point torch.dtype (torch.float64, torch.float32, ...), got {bad!r}")
    assert binary_states(2, torch.float32).dtype == torch.float32
    for bad in (-1, 63, 2.0, True):
        fails(lambda: binary_states(bad), "n must be an integer >= 0 and <= 62")

def test_seeds_of_cos_data_and_init_sbn_keep_to_32_bits():
    "A CPU generator reads a seed's low 32 bits (5 and 5 + 2**32 draw the same): seeds from 2**32 on were accepted and repeated smaller ones."
    g = lambda s: torch.rand(4, generator=torch.Generator().manual_seed(s))
    assert torch.equal(g(5), g(5 + 2**32))   # why: the generator's own behaviour
    X, _ = cos_data(5)
    for bad in (2**32, 5 + 2**32, 2**64 - 1, -1):
        msg = f"seed must be an integer in 0..{2**32 - 1}, got {bad!r} (a CPU generator reads only a seed's low 32 bits"
        fails(lambda: cos_data(3, seed=bad), msg)
        fails(lambda: init_sbn_(SBNMLP([2, 3, 1]), X, seed=bad), msg)
    assert torch.equal(cos_data(3, seed=np.uint32(2**32 - 1))[0], cos_data(3, seed=2**32 - 1)[0])
    init_sbn_(SBNMLP([2, 3, 1]), X, seed=2**32 - 1)

def test_sbn_comment_on_cos_dataset_seeds_is_gone():
    src = (ROOT / 'sbn_estimators' / 'sbn.py').read_text()
    assert "seeds reach 2**64" not in src

@pytest.mark.parametrize('bad', [1.5, '1', True, -1, 2**32])
def test_forward_backward_and_bench_problem_check_seed(bad):
    "Before: 1.5, '1' and True ran as seed 1 (forward_backward), -1 was accepted; every sibling raises."
    fails(lambda: forward_backward('st', torch.zeros(3), samples=4, seed=bad), f"seed must be an integer in 0..{2**32 - 1}, got {bad!r}")
    fails(lambda: bench_problem('fc', 2, seed=bad), "seed must be an integer")
    fails(lambda: bench_problem('fc', 2, seed=bad), f"got {bad!r}")

def test_bench_problem_leaves_the_callers_random_state():
    "Before: bench_problem seeded the global generator, so torch.rand after it was the same whatever the caller had seeded."
    after = []
    for s in (1, 2):
        torch.manual_seed(s); bench_problem('fc', 2); after.append(torch.rand(3))
        torch.manual_seed(s); assert torch.equal(after[-1], torch.rand(3))   # as if bench_problem had not run
    assert not torch.equal(*after)
    (n1, x1, y1), (n2, x2, y2) = bench_problem('fc', 2, seed=3), bench_problem('fc', 2, seed=3)   # still a function of its seed
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and torch.equal(n1.layers[0].weight, n2.layers[0].weight)
    assert not torch.equal(x1, bench_problem('fc', 2, seed=4)[1])

def test_eval_mode_docment_says_what_the_code_does():
    "The default rests on the estimator's `deterministic` attribute, not on whether its forward is stochastic: mean_field evaluates by samples."
    assert BinaryActivation('mean_field').eval_mode == 'sample' and BinaryActivation('st:deterministic=true').eval_mode == 'det'
    src = inspect.getsource(BinaryActivation.__init__)
    assert 'with a deterministic forward' not in src and '`deterministic=True`' in src and 'mean_field' in src
    assert check_eval_mode.__doc__ and 'EVAL_MODES' in check_eval_mode.__doc__

def test_cards_give_each_parameters_meaning():
    "Before: `t=1.5` alone; now the comment of each constructor parameter, a base class's where a subclass repeats it bare."
    row = lambda n: next(l for l in estimator_card(n).splitlines() if l.startswith('| parameters |'))
    reste = row('reste')
    assert "`t=1.5`: clipping threshold: zero slope for \\|z\\| > t" in reste, reste   # a `|` escaped: the table cell goes on
    assert "`deterministic=False`: forward `sign(z)` instead of sampling, as in the paper" in reste   # ReSTE's own comment
    assert "`noise='logistic'`: noise of the stochastic forward (see `NOISES`)" in row('st')
    assert row('arm') == '| parameters | none |'
    assert reste.count('|') - reste.count('\\|') == 3   # two cells

def _derivation(cwd):
    code = ("from sbn_estimators.estimators import load_plugins; from sbn_estimators.catalogue import derivation_page, estimator_card\n"
            f"load_plugins({str(ROOT / 'nbs' / 'examples' / 'gauss_st.py')!r}); print(derivation_page('gauss_st'))")
    r = subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True, text=True, env={'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1',
                                                                                                 'PATH': '/usr/bin:/bin'})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()

def test_a_plugins_derivation_path_holds_from_anywhere(tmp_path):
    "Before: '../../…/nbs/examples/gauss_st.py' from another folder, a path that held only from there; the docs' link (run in nbs/) stays relative."
    plugin = (ROOT / 'nbs' / 'examples' / 'gauss_st.py').resolve()
    assert _derivation(tmp_path) == str(plugin)
    assert _derivation(ROOT / 'nbs') == 'examples/gauss_st.py'


class _Base:
    def __init__(self, noise='logistic', # the base's meaning of noise
                 deterministic=False): # the base's meaning of deterministic
        pass

class _Bare(_Base):
    def __init__(self, noise='logistic', deterministic=False, o=3.0): super().__init__(noise, deterministic)

class _Own(_Base):
    def __init__(self, noise='logistic', # its own meaning
                 deterministic=False):
        super().__init__(noise, deterministic)

def test_a_parameter_repeated_bare_takes_its_base_class_comment():
    "No registered estimator repeats a parameter bare any more (review s46): the MRO lookup of `_param_docs`, on classes of its own."
    from sbn_estimators.catalogue import _param_docs
    assert _param_docs(_Bare) == {'noise': "the base's meaning of noise", 'deterministic': "the base's meaning of deterministic"}
    assert _param_docs(_Own) == {'noise': 'its own meaning', 'deterministic': "the base's meaning of deterministic"}


def test_meta_builds_shapes_only():
    "Review s46: the first check_device refused 'meta' everywhere, which torch's shape-only construction (skip_init, FakeTensor) and `unroll` of a meta conv net use."
    from sbn_estimators.sbn_conv import SBNConvNet, unroll
    assert SBNMLP([2, 3, 1], device='meta').layers[0].weight.is_meta
    assert binary_states(3, device=torch.device('meta')).is_meta
    with torch.device('meta'): conv = SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 3)
    mlp, ps = unroll(conv)
    assert all(p.is_meta for p in mlp.parameters()) and all(W.is_meta for W, b in ps)
