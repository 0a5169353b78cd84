"""Review s49, fix E: library calls leave the caller's state alone. gradient_report draws each estimator under a forked
generator (core.seeded) instead of reseeding the caller's; load_sbn and train_toy_sbn build their network off the caller's
stream; sbn-gradeval's _main and bench.run_cases restore torch's thread count; bench._machine closes /proc/cpuinfo; the
'cos' dataset stores its points in float64, so a float64 run gets cos_data's float64 points (a float32 run the same as before)."""
import gc, warnings
import pytest, torch
from sbn_estimators import bench
from sbn_estimators.data import cos_dataset, get_data
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.gradeval import gradient_report, gradient_metrics, gradeval_cli, train_toy_sbn
from sbn_estimators.sbn import cos_data, load_sbn, save_sbn

torch.set_num_threads(1)


def after(f, prior):
    "torch.rand(3) after torch.manual_seed(prior) and f()."
    torch.manual_seed(prior); f(); return torch.rand(3)


@pytest.fixture(scope='module')
def toy(): return train_toy_sbn(epochs=1, seed=1)


# 1. gradient_report: the caller's random numbers stay as they were; the report's numbers are those of torch.manual_seed(seed)

def test_gradient_report_leaves_the_callers_stream(toy):
    net, X, Y = toy
    run = lambda: gradient_report(net, X[:10], Y[:10], 'st,reinforce', samples=10, chunk=10, seed=3, progress=False)
    for prior in (1, 2):   # was: the same numbers after either prior, the stream reseeded to 3
        assert torch.equal(after(run, prior), after(lambda: None, prior))


def test_gradient_report_draws_as_after_manual_seed(toy):
    net, X, Y = toy
    r = gradient_report(net, X[:10], Y[:10], 'reinforce', samples=12, chunk=5, seed=7, progress=False)
    exact = {k: torch.tensor(v, dtype=torch.float64) for k, v in r['exact_grad'].items()}
    torch.manual_seed(7)
    draws = draw_estimates(net, X[:10], Y[:10], estimator('reinforce'), 12, 5)
    for g in r['estimators']['reinforce']['groups']:
        assert g == {'group': g['group'], **gradient_metrics(draws[g['group']], exact[g['group']], True)}


# 2. in-process CLI calls restore torch's thread count

def test_gradeval_cli_restores_threads(tmp_path):
    torch.set_num_threads(2)
    try:
        gradeval_cli(['--epochs', '0', '--samples', '10', '--chunk', '10', '--estimators', 'st', '--quiet',
                      '--json', str(tmp_path / 'r.json'), '--plot', str(tmp_path / 'r.png')])   # --threads 1 by default
        assert torch.get_num_threads() == 2   # was 1
        with pytest.raises(SystemExit):   # refused after the threads are set: restored too
            gradeval_cli(['--epochs', '0', '--samples', '10', '--estimators', 'st,dst', '--json', str(tmp_path / 's.json'),
                          '--plot', str(tmp_path / 's.png')])
        assert torch.get_num_threads() == 2
    finally: torch.set_num_threads(1)


def test_run_cases_restores_threads():
    torch.set_num_threads(2)
    try:
        rows = bench.run_cases('fc', ['st'], batch=2, repeats=3, threads=1)
        assert rows[0]['threads'] == 1   # measured on the threads asked for
        assert torch.get_num_threads() == 2   # was 1
    finally: torch.set_num_threads(1)


# 3. bench._machine closes /proc/cpuinfo

def test_machine_closes_cpuinfo():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always', ResourceWarning)
        bench._machine(); gc.collect()
    assert not [x for x in w if issubclass(x.category, ResourceWarning)], [str(x.message) for x in w]


# 4. load_sbn and train_toy_sbn leave the caller's stream alone, their results unchanged

@pytest.mark.parametrize('which', ['load_sbn', 'train_toy_sbn'])
def test_load_sbn_and_train_toy_sbn_leave_the_callers_stream(toy, tmp_path, which):
    net, X, Y = toy
    path = save_sbn(tmp_path / 'n.npz', net, X, Y)
    f = {'load_sbn': lambda: load_sbn(path), 'train_toy_sbn': lambda: train_toy_sbn(epochs=0, seed=3)}[which]
    assert torch.equal(after(f, 1), after(lambda: None, 1))   # was: SBNMLP's random init drew from it
    got = load_sbn(path)[0] if which == 'load_sbn' else train_toy_sbn(epochs=1, seed=1)[0]
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), got.parameters()))


# 5. the 'cos' dataset holds cos_data's float64 points: each dtype's run gets them rounded once

@pytest.mark.parametrize('dt', [torch.float64, torch.float32, torch.bfloat16])
def test_cos_dataset_input_is_cos_data_in_the_runs_dtype(dt):
    d = get_data('cos', seed=2, n_per_class=20, val=4)
    for name, s, n in (('train', 5, 20), ('val', 6, 2)):
        X = d.input(d.splits[name][0], dt)
        ref = cos_data(n, seed=s, dtype=dt)[0]
        assert torch.equal(X[0::2], ref[:n]) and torch.equal(X[1::2], ref[n:])   # was: float64 rounded through float32 (up to 6e-8 off)


def test_cos_dataset_stores_float64_points_and_float32_labels():
    d = cos_dataset(n_per_class=10, val=0)
    assert [d.splits[k][0].dtype for k in ('train', 'val', 'test')] == [torch.float64] * 3
    assert [d.splits[k][1].dtype for k in ('train', 'val', 'test')] == [torch.float32] * 3
