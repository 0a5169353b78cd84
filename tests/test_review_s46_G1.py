"Review s46, fix G1: the evaluation streams of seeds 0, 2, 4, ... are apart on the CPU (whose generator keeps 32 bits of a seed), seeds 0 and 1 as before; `load_run` and `summarize` leave the global random state alone; `evaluate(seed=...)`; result.json's environment names the CPU kernels, the architecture, CUDA and cuDNN, and psa's backend."
import json
import pytest, torch
from sbn_estimators import cli
from sbn_estimators.train import TrainConfig, train, load_run, load_data, summarize, evaluate, _eval_rng

torch.set_num_threads(1)
CPU = torch.device('cpu')
SMALL = dict(epochs=1, model='sbn_mlp:width=32', eval_samples=2, n_train=200, val=50)


def eval_draws(seed, epochs, n=8):
    with _eval_rng(seed, epochs, CPU): return torch.rand(n)


def old_draws(seed, epochs, n=8):
    "The stream of the formula before this fix: 2**63 + seed·2**31 + epochs."
    return torch.rand(n, generator=torch.Generator().manual_seed(2**63 + seed * 2**31 + epochs))


# 1. _eval_rng: seeds of one parity no longer share their evaluation draws

def test_even_seeds_draw_apart():
    for epochs in (0, 3, 60):
        d = [eval_draws(s, epochs) for s in (0, 2, 4)]
        assert not torch.equal(d[0], d[1]) and not torch.equal(d[0], d[2]) and not torch.equal(d[1], d[2])   # was: all three the same


def test_every_seed_draws_its_own_stream():
    seeds = list(range(64)) + [2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1]
    firsts = {tuple(eval_draws(s, 5, 4).tolist()) for s in seeds}
    assert len(firsts) == len(seeds)


def test_seeds_0_and_1_keep_their_streams():
    "The README's run and the pages' stored numbers (seeds 0 and 1) draw as before (this part passes on the old code too)."
    for seed in (0, 1):
        for epochs in (0, 1, 2, 8, 60, 1000):
            assert torch.equal(eval_draws(seed, epochs), old_draws(seed, epochs))


def test_the_largest_seed_and_many_epochs_seed_the_generator():
    for seed in (2**32 - 1, 2**32 - 2):
        assert eval_draws(seed, 10**6).shape == (8,)   # the seed stays below 2**64


def test_eval_rng_leaves_the_global_state():
    before = torch.get_rng_state()
    eval_draws(2, 3)
    assert torch.equal(torch.get_rng_state(), before)


# 2. load_run and summarize do not consume the global random numbers

def test_load_run_leaves_the_global_random_state(tmp_path):
    train(TrainConfig(**SMALL), out=tmp_path / 'r', progress=False)
    torch.manual_seed(123); before = torch.get_rng_state()
    load_run(tmp_path / 'r')
    assert torch.equal(torch.get_rng_state(), before)   # was: the build's weight initialisation drew from it
    load_run(tmp_path / 'r', 'last.pt')
    assert torch.equal(torch.get_rng_state(), before)


def test_load_run_of_a_staged_run_leaves_the_global_random_state(tmp_path):
    from sbn_estimators.train import RECIPES
    duo = {**RECIPES['binaryduo_digits'].config, 'epochs': 1, 'n_train': 200, 'val': 50, 'eval_samples': 2,
           'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 1, 'lr': 0.001}]}
    train(TrainConfig(**duo), out=tmp_path / 'd', progress=False)
    torch.manual_seed(123); before = torch.get_rng_state()
    for ck in ('last.pt', 'stage-coupled.pt'): load_run(tmp_path / 'd', ck)
    assert torch.equal(torch.get_rng_state(), before)
    summarize(TrainConfig(**duo))
    assert torch.equal(torch.get_rng_state(), before)


def test_summarize_leaves_the_global_random_state():
    torch.manual_seed(7); before = torch.get_rng_state()
    summarize(TrainConfig(model='sbn_mlp:width=32'))
    assert torch.equal(torch.get_rng_state(), before)


# 3. evaluate(seed=...)

@pytest.fixture(scope='module')
def trained():
    cfg = TrainConfig(**SMALL)
    return train(cfg, progress=False)['model'], load_data(cfg)


def test_evaluate_with_a_seed_repeats_and_leaves_the_global_state(trained):
    model, data = trained
    torch.manual_seed(0); before = torch.get_rng_state()
    a, b = (evaluate(model, data, 'test', 3, seed=5) for _ in range(2))
    assert a == b
    assert torch.equal(torch.get_rng_state(), before)
    assert evaluate(model, data, 'test', 3, seed=6)['acc'] != a['acc']
    torch.manual_seed(5)
    assert evaluate(model, data, 'test', 3) == a   # the stream of seed 5: what the global generator seeded 5 draws


def test_evaluate_without_a_seed_draws_the_global_stream(trained):
    model, data = trained
    torch.manual_seed(1); a = evaluate(model, data, 'test', 3)
    torch.manual_seed(1); b = evaluate(model, data, 'test', 3, seed=None)
    after = torch.get_rng_state()
    assert a == b
    torch.manual_seed(1)
    assert not torch.equal(torch.get_rng_state(), after)   # the samples came from the global generator


@pytest.mark.parametrize('seed', [-1, 2**64, 1.5, True, '3'])
def test_evaluate_refuses_a_bad_seed(trained, seed):
    model, data = trained   # 0..2**64-1, a run's evaluation seeds (review s61 K4)
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.18446744073709551615, got " + __import__('re').escape(repr(seed))):
        evaluate(model, data, 'test', 2, seed=seed)


# 4. the environment of a result

def test_environment_names_the_cpu_kernels_and_architecture():
    import platform
    env = cli.environment()
    assert env['cpu_capability'] == torch.backends.cpu.get_cpu_capability() and env['machine'] == platform.machine()
    assert 'cuda' not in env and 'cudnn' not in env


def test_environment_on_cuda_names_cuda_and_cudnn(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda d=None: 'Fake GPU')
    monkeypatch.setattr(torch.version, 'cuda', '12.4')
    monkeypatch.setattr(torch.backends.cudnn, 'version', lambda: 90100)
    env = cli.environment('cuda:0')
    assert (env['device'], env['cuda'], env['cudnn']) == ('cuda:0 (Fake GPU)', '12.4', 90100)


@pytest.mark.parametrize('backend,spec,recorded', [(None, 'psa', 'auto'), ('eager', 'psa', 'eager'), ('eager', 'psa:backend=auto', 'auto')])
def test_result_json_names_psas_backend(tmp_path, monkeypatch, backend, spec, recorded):
    if backend is None: monkeypatch.delenv('PSA_BACKEND', raising=False)
    else: monkeypatch.setenv('PSA_BACKEND', backend)
    train(TrainConfig(**SMALL, estimator=spec), out=tmp_path / 'r', progress=False)
    env = json.loads((tmp_path / 'r' / 'result.json').read_text())['environment']
    assert env['psa_backend'] == recorded and env['cpu_capability'] == torch.backends.cpu.get_cpu_capability()


def test_result_json_of_another_estimator_has_no_psa_backend(tmp_path):
    train(TrainConfig(**SMALL), out=tmp_path / 'r', progress=False)
    assert 'psa_backend' not in json.loads((tmp_path / 'r' / 'result.json').read_text())['environment']


# 5-7. the prose

def test_docs_say_what_the_code_does():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    page = ' '.join(''.join(c['source']) for c in json.loads((root / 'nbs/14_train.ipynb').read_text())['cells'])
    page = re.sub(r'\s+', ' ', page)
    assert 'without one (`--val 0`) the last epoch' in page and 'below 2**50' not in page
    assert 'takes 32-bit seeds' in page and '83.25 % with the plain ones (a one-off measurement' in page
    readme = re.sub(r'\s+', ' ', (root / 'README.md').read_text())
    assert 'prints a line beginning `test accuracy (10 samples per example): expected 0.9560' in readme
