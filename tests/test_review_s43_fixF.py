"Review s43 (fix F): huge integers and `float | None` in config files, temporary names at the file-name limit, out of memory on one line, Gumbel-Rao's computed slope, the plugin hint of every command, a resumed run whose plugin file moved."
import argparse, contextlib, io, json, os, subprocess
import pytest
import torch
from conftest import ROOT, console_script
from sbn_estimators import cli
from sbn_estimators.cli import check_config, load_config, check_output_file, atomic_path, run_cli, _name_max
from sbn_estimators.train import TrainConfig, train_cli
from sbn_estimators.gradeval import gradeval_cli, _partial
from sbn_estimators.bench import bench_cli
import sbn_estimators.gumbel_family
from sbn_estimators.gumbel_family import GumbelRao, ZGR
from sbn_estimators.rebar import conditional_noise
from sbn_estimators.core import noise_dtype
from sbn_estimators.sbn import sample_states

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
PLUGIN = ROOT / 'nbs' / 'examples' / 'gauss_st.py'


@pytest.fixture
def call(tmp_path, monkeypatch, capsys):
    "`command(args)` in this process, in `tmp_path`: -> (status, stdout, stderr)."
    monkeypatch.chdir(tmp_path)
    def _call(command, args):
        try: command(list(map(str, args))); code = 0
        except SystemExit as e: code = e.code
        out, err = capsys.readouterr()
        return code, out, err
    return _call


# 1. a huge JSON integer in a float field; `float | None` made a float
@pytest.mark.parametrize('key', ['val', 'lr', 'momentum', 'weight_decay', 'grad_clamp'])
def test_a_huge_integer_is_refused_naming_source_and_key(key, tmp_path):
    with pytest.raises(ValueError, match=rf"^config: '{key}' must be a finite number, got an integer of 401 digits$"):
        check_config({key: 10 ** 400}, TrainConfig)
    f = tmp_path / 'big.json'; f.write_text(f'{{"{key}": 1{"0" * 400}}}')
    with pytest.raises(ValueError, match=rf"config file {f}: '{key}' must be a finite number, got an integer of 401 digits"):
        load_config(f, TrainConfig)

def test_sbn_train_refuses_a_huge_integer_on_one_line(call, tmp_path):
    (tmp_path / 'big.json').write_text('{"val": 1' + '0' * 400 + '}')
    code, out, err = call(train_cli, ['--config', 'big.json', '--out', 'run'])
    assert code == 2 and err == "sbn-train: error: config file big.json: 'val' must be a finite number, got an integer of 401 digits\n", err

def test_float_or_none_fields_are_made_floats():
    d = check_config({'lr': 1, 'val': 0}, TrainConfig)
    assert type(d['lr']) is float and type(d['val']) is float
    assert check_config({'lr': None}, TrainConfig) == {'lr': None}


# 2. temporary names at the file-name limit
def test_atomic_path_writes_every_name_check_output_file_accepts(tmp_path):
    limit = _name_max(tmp_path)
    for n in (limit, limit - 5, limit - 11):
        f = check_output_file(tmp_path / ('p' * (n - 4) + '.png'), '--plot', ('.png',))
        with atomic_path(f) as t:
            assert len(os.fsencode(t.name)) <= limit
            t.write_text(str(n))
        assert f.read_text() == str(n)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.')) == []

def test_two_long_names_with_one_beginning_get_distinct_temporaries(tmp_path):
    limit = _name_max(tmp_path)
    a, b = (tmp_path / ('q' * (limit - 6) + s + '.png') for s in 'ab')
    assert cli.sibling(a, '.', '.1.tmp') != cli.sibling(b, '.', '.1.tmp')

def test_gradeval_partial_report_fits_beside_the_longest_json_name(tmp_path):
    j = tmp_path / ('r' * (_name_max(tmp_path) - 5) + '.json')
    assert len(os.fsencode(_partial(j).name)) <= _name_max(tmp_path) and _partial(j).parent == tmp_path
    assert _partial(tmp_path / 'r.json').name == 'r.json.partial'   # short names as before

def test_gradeval_writes_plot_and_json_at_the_name_limit(call, tmp_path):
    limit = _name_max(tmp_path)
    plot, js = 'p' * (limit - 4) + '.png', 'j' * (limit - 5) + '.json'
    code, out, err = call(gradeval_cli, ['--estimators', 'st', '--samples', '50', '--epochs', '1', '--json', js, '--plot', plot, '--no-progress'])
    assert code == 0, err
    assert (tmp_path / plot).stat().st_size > 1000 and json.loads((tmp_path / js).read_text())['estimators']
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([plot, js])


# 3. out of memory: one line, exit 1; other RuntimeErrors keep their traceback
def demo(main, argv=()):
    p = argparse.ArgumentParser(prog='demo')
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try: run_cli(p, main, list(argv)); code = 0
        except SystemExit as e: code = e.code
    return code, err.getvalue()

@pytest.mark.parametrize('exc', [lambda: torch.empty(2 ** 62, dtype=torch.uint8), lambda: (_ for _ in ()).throw(MemoryError()),
                                 lambda: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB'))])   # newer torch's torch.OutOfMemoryError is this class; torch 2.1 has only this name
def test_out_of_memory_is_one_line_with_a_hint(exc):
    code, err = demo(lambda args: exc())
    assert code == 1 and err.count('\n') == 1 and err.startswith('demo: error: out of memory'), err
    assert 'a machine with more memory' in err, err   # the generic hint; each command passes its own (test_review_s43_fixJ)

def test_other_runtime_errors_are_not_swallowed():
    def bug(args): raise RuntimeError('mat1 and mat2 shapes cannot be multiplied')
    with pytest.raises(RuntimeError, match='shapes cannot be multiplied'): demo(bug)

def test_gradeval_out_of_memory_is_one_line(call):
    code, out, err = call(gradeval_cli, ['--estimators', 'gumbel_rao:k=1000000000', '--samples', '20', '--epochs', '0', '--no-progress'])
    assert code == 1 and err.count('\n') == 1 and err.startswith('sbn-gradeval: error: out of memory ('), err
    assert 'Traceback' not in err


# 4. Gumbel-Rao: a computed slope, no k-fold graph, the same states and gradients as through autograd
class GumbelRaoGraph(GumbelRao):
    "The implementation before s43: autograd through the k relaxations (noises detached)."
    def forward(self, a):
        x = sample_states(a, 'logistic')
        dt = noise_dtype(a.dtype)
        u = torch.rand((self.k, *a.shape), dtype=dt, device=a.device).clamp(min=torch.finfo(dt).tiny)
        soft = (2 * torch.sigmoid((a - conditional_noise(a.detach().to(dt).expand_as(u), x.to(dt).expand_as(u), 'logistic', u)) / self.tau) - 1).mean(0)
        return (x + (soft - soft.detach())).to(a.dtype)

def states_and_grad(est, a0, w, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        a = a0.clone().requires_grad_()
        x = est(a); (x * w).sum().backward()
    return x.detach(), a.grad

@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-13), (torch.float32, 1e-5)])
@pytest.mark.parametrize('tau,k', [(1.0, 10), (0.3, 1), (2.0, 7)])
def test_gumbel_rao_matches_the_graph_implementation(dtype, tol, tau, k):
    g = torch.Generator().manual_seed(1)
    a0 = (torch.randn(16, 64, generator=g, dtype=torch.float64) * 2).to(dtype)
    w = torch.randn(16, 64, generator=g, dtype=torch.float64).to(dtype)
    x1, g1 = states_and_grad(GumbelRao(tau, k), a0, w, seed=3)
    x2, g2 = states_and_grad(GumbelRaoGraph(tau, k), a0, w, seed=3)
    assert torch.equal(x1, x2) and x1.dtype == x2.dtype == dtype
    torch.testing.assert_close(g1, g2, rtol=tol, atol=tol)
    x3, _ = states_and_grad(GumbelRao(tau, k), a0, w, seed=3)   # the RNG stream after the call is the graph one's too
    assert torch.equal(x1, x3)

@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_gumbel_rao_noise_given_is_conditional_noise(dtype):
    g = torch.Generator().manual_seed(2)
    a = (torch.randn(40, 30, generator=g) * 3).to(dtype)
    x = torch.where(torch.rand(40, 30, generator=g) < 0.5, 1., -1.).to(dtype)
    torch.manual_seed(7); z = GumbelRao(k=6).noise_given(a, x)
    torch.manual_seed(7)
    dt = noise_dtype(dtype)
    u = torch.rand((6, 40, 30), dtype=dt).clamp(min=torch.finfo(dt).tiny)
    tol = 1e-13 if dt == torch.float64 else 5e-5   # the same law in another algebraic form: equal to rounding
    torch.testing.assert_close(z, conditional_noise(a.to(dt).expand_as(u), x.to(dt).expand_as(u), 'logistic', u), rtol=tol, atol=tol)

def test_one_conditional_logistic_noise_and_it_refuses_01_states():
    "gumbel_family's unchecked copy of conditional_noise is gone: x in {0, 1} gave Z = 0 there; conditional_noise refuses it."
    assert not hasattr(sbn_estimators.gumbel_family, 'conditional_logistic')
    a = torch.randn(4)
    with pytest.raises(ValueError, match='x must be ±1 states'):
        conditional_noise(a, (a > 0).double(), 'logistic', torch.rand(4))

def kept_bytes(est, a):
    sizes = []
    def pack(t): sizes.append(t.numel() * t.element_size()); return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): est(a)
    return sum(sizes)

def test_gumbel_rao_backward_keeps_no_k_fold_graph():
    a = torch.randn(64, 128, requires_grad=True)
    zgr = kept_bytes(ZGR(), a)
    assert kept_bytes(GumbelRao(k=10), a) == kept_bytes(GumbelRao(k=50), a) == zgr, (zgr, kept_bytes(GumbelRao(k=50), a))


# 6. every command says how one's own estimator is named
@pytest.mark.parametrize('command,args', [(gradeval_cli, ['--estimators', 'gauss_st', '--epochs', '0']),
                                          (bench_cli, ['--estimators', 'gauss_st']),
                                          (train_cli, ['--estimator', 'gauss_st', '--epochs', '1'])])
def test_every_command_gives_the_plugins_hint(call, command, args):
    code, out, err = call(command, args)
    assert code == 2 and err.count('\n') == 1, err
    assert "unknown estimator 'gauss_st'" in err and 'to use one of your own, give --plugins with the module or .py file' in err, err
    assert err.count('--plugins') == 1, err


# 7. --resume after the run's plugin file moved
def test_resume_names_config_json_when_the_plugin_file_moved(tmp_path):
    (tmp_path / 'g2.py').write_text(PLUGIN.read_text())
    train = console_script('sbn-train')
    r = subprocess.run([train, '--plugins', 'g2.py', '--estimator', 'gauss_st', '--model', 'sbn_mlp:width=8', '--epochs', '1',
                        '--n-train', '64', '--n-test', '64', '--quiet', '--threads', '1', '--out', 'run'], cwd=tmp_path,
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    (tmp_path / 'g2.py').rename(tmp_path / 'g3.py')
    for extra in ([], ['--plugins', 'g3.py']):
        r = subprocess.run([train, '--resume', '--out', 'run', '--quiet', *extra], cwd=tmp_path, capture_output=True, text=True, env=ENV)
        assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
        assert f"run/config.json names the plugin file {tmp_path.resolve() / 'g2.py'}, which does not exist" in r.stderr, r.stderr
        assert 'restore the file there, or edit the "plugins" entry of run/config.json' in r.stderr, r.stderr
