"sbn-gradeval as a user runs it: the installed console script, in a fresh directory."
import json, os, signal, subprocess, sys, zipfile
import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED_DATA, STOPPER, console_script
from sbn_estimators.gradeval import gradient_metrics, gradient_report, accuracy_curves, gradeval_cli, report_table
from sbn_estimators.estimators import draw_estimates, estimator
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_

GRADEVAL = console_script('sbn-gradeval')


def run(args, cwd, progress=False):
    return subprocess.run([GRADEVAL, *args, *([] if progress else ['--no-progress'])], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def trained(monkeypatch):
    "The epochs of each toy network `gradeval_cli` trains in the test (0: the untrained one of the checks); its status line is no witness: stderr only, and --no-progress drops it."
    import sbn_estimators.gradeval as ge
    seen, real = [], ge.train_toy_sbn
    monkeypatch.setattr(ge, 'train_toy_sbn', lambda *args, **kw: seen.append(kw.get('epochs', 100)) or real(*args, **kw))
    return seen


def one_line_error(r, *fragments):
    "Exit status 2, stderr one line `sbn-gradeval: error: ...` holding every fragment, and no traceback."
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('sbn-gradeval: error: '), r.stderr
    for f in fragments: assert f in lines[0], (f, lines[0])


def test_default_run_trains_the_toy_network(tmp_path):
    r = run(['--samples', '300', '--epochs', '20'], tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    assert (tmp_path / 'gradeval.png').stat().st_size > 10_000
    assert report['network'].startswith('toy')
    assert set(report['estimators']) == {'exact', 'psa', 'st', 'arm', 'reinforce', 'mean_field'}
    for g in report['estimators']['exact']['groups']:
        assert g['rel_rmse_1'] == 0 and g['rel_bias'] == 0 and g['cos_1'] == pytest.approx(1)
    assert 'reinforce' in r.stdout and 'rel_bias' in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['gradeval.json', 'gradeval.png']   # no temporary files left


@pytest.mark.skipif(not (SHARED_DATA / 'psa_gradeval_5-5-5_chk100.npz').exists(), reason="../shared/data is not beside this checkout")
def test_shared_checkpoint_exact_objective(tmp_path):
    r = run([str(SHARED_DATA / 'psa_gradeval_5-5-5_chk100.npz'), '--estimators', 'exact,reinforce,mean_field',
             '--samples', '2000'], tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    assert abs(report['exact_loss'] - 0.6838682289076938) < 1e-9
    assert all(g['rel_rmse_1'] == 0 for g in report['estimators']['exact']['groups'])
    assert all(g['p_unbiased'] > 1e-3 for g in report['estimators']['reinforce']['groups'])


def toy_arrays(**replace):
    a = {'X': np.zeros((4, 2)), 'Y': np.ones((4, 1)), 'W0': np.zeros((3, 2)), 'b0': np.zeros(3),
         'W1': np.zeros((1, 3)), 'b1': np.zeros(1)}
    return {**a, **replace}


def test_bad_input_gives_one_line_errors(tmp_path, call):
    one_line_error(run(['--estimators', 'reinforse', '--epochs', '0'], tmp_path), "unknown estimator 'reinforse'; valid estimators:")
    one_line_error(call(['--estimators', 'mean_field:tau=2', '--epochs', '0']), "has no parameter tau")
    (tmp_path / 'junk.npz').write_text('not a network')
    one_line_error(call([str(tmp_path / 'junk.npz')]), 'not a readable .npz network file')
    big = toy_arrays(W0=np.zeros((24, 2)), b0=np.zeros(24), W1=np.zeros((24, 24)), b1=np.zeros(24),
                     W2=np.zeros((1, 24)), b2=np.zeros(1))   # 2^24 x 2^24 transitions
    np.savez(tmp_path / 'big.npz', **big)
    one_line_error(call([str(tmp_path / 'big.npz')]), 'too large to enumerate')
    one_line_error(call([str(tmp_path / 'missing.npz')]), 'missing.npz does not exist')
    (tmp_path / 'folder.npz').mkdir()
    one_line_error(call([str(tmp_path / 'folder.npz')]), 'folder.npz is a directory')
    one_line_error(call(['--estimators', 'st,reinforce,st', '--epochs', '0']), '--estimators names st more than once')
    one_line_error(call(['--estimators', 'st,dst', '--epochs', '0']), "--estimators: 'st' and 'dst' are the same estimator (st); give each once")
    one_line_error(call(['--epochs', '-1']), '--epochs must be >= 0, got -1')
    assert not (tmp_path / 'gradeval.json').exists()


def test_corrupted_and_non_numeric_network_files(tmp_path, call):
    np.savez(tmp_path / 'ok.npz', **toy_arrays())
    raw = bytearray((tmp_path / 'ok.npz').read_bytes())
    with zipfile.ZipFile(tmp_path / 'ok.npz') as z: member = z.infolist()[0]
    raw[member.header_offset + 30 + len(member.filename) + len(member.extra) + 100] ^= 0xFF   # a byte of X's data
    (tmp_path / 'crc.npz').write_bytes(bytes(raw))
    one_line_error(call([str(tmp_path / 'crc.npz')]), 'crc.npz is corrupted', 'CRC')
    np.savez(tmp_path / 'str.npz', **toy_arrays(X=np.array([['a', 'b']] * 4)))
    one_line_error(call([str(tmp_path / 'str.npz')]), 'str.npz: array X holds non-numeric')
    np.savez(tmp_path / 'obj.npz', **toy_arrays(W0=np.array([[None, 1]] * 3, dtype=object)))
    one_line_error(call([str(tmp_path / 'obj.npz')]), 'obj.npz is corrupted or not a network file', 'allow_pickle')
    (tmp_path / 'trunc.npz').write_bytes(bytes(raw[:len(raw) // 2]))
    one_line_error(call([str(tmp_path / 'trunc.npz')]), 'trunc.npz')


def test_output_paths_are_checked_before_the_work(tmp_path, call):
    # with the default 100 training epochs and 2000 samples these would run for a while before writing
    one_line_error(run(['--json', 'missing/r.json'], tmp_path), '--json: folder missing of missing/r.json does not exist')
    one_line_error(call(['--plot', 'r.xyz']), "--plot: 'r.xyz' must end in", '.png', '.pdf', '.svg')
    one_line_error(call(['--json', 'r.txt']), "--json: 'r.txt' must end in .json")
    one_line_error(call(['--json', '/proc/r.json']), '--json: cannot write in folder /proc')   # writable by nobody, root included
    (tmp_path / 'd.json').mkdir()
    one_line_error(call(['--json', 'd.json']), '--json: d.json is a folder')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['d.json']


def test_counts_must_be_positive(tmp_path, call):
    for option in ('--threads', '--samples', '--chunk'):
        for value in ('0', '-1'):
            r = call([option, value])
            assert r.returncode == 2 and r.stderr.splitlines()[-1] == \
                f"sbn-gradeval: error: argument {option}: must be a positive integer, got '{value}'", r.stderr


def test_one_sample_is_refused_before_the_work(tmp_path, call, trained):
    "One estimate has no spread: the z-test would call every stochastic estimator biased."
    r = call(['--samples', '1'])
    one_line_error(r, 'samples must be an integer >= 2', 'got 1')
    assert not any(trained) and not (tmp_path / 'gradeval.json').exists()   # refused before training


def test_help_shows_the_defaults_and_list_the_parameters(tmp_path, call):
    r = call(['--help'])
    assert r.returncode == 0
    text = ' '.join(r.stdout.split())
    for fragment in ['(default: exact,psa,st,arm,reinforce,mean_field)', 'per estimator (default: 2000)', '(default: 0)',
                     '>= 0 (default: 100)', 'pass (default: 500)', '(default: gradeval.json)', '(default: gradeval.png)',
                     '>= 1 (default: 1;', '(default: train the toy 2-5-5-5-1 network)', '--debug']:
        assert fragment in text, fragment
    r = call(['--list'])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == 'NAME[:parameter=default,...]'
    assert any(l.startswith('concrete:tau=1.0') for l in lines) and any(l.startswith('exact ') for l in lines)


def test_progress_is_one_line_per_estimator_when_stderr_is_a_file(tmp_path):
    r = run(['--epochs', '0', '--samples', '200', '--estimators', 'exact,reinforce,mean_field'], tmp_path, progress=True)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()   # the status line (as sbn-train's, on stderr), then one per estimator
    assert len(lines) == 4 and lines[0] == 'training the toy 2-5-5-5-1 network on the cos data (0 epochs, seed 0) ...', r.stderr
    lines = lines[1:]
    assert [l.split(':')[0] for l in lines] == ['estimator 1/3', 'estimator 2/3', 'estimator 3/3'], r.stderr
    assert 'name reinforce, samples 200, seconds' in lines[1]


@pytest.mark.skipif(os.name != 'posix', reason="signals to a child process")
@pytest.mark.parametrize('sig, status, word', [(signal.SIGINT, 130, 'interrupted'), (signal.SIGTERM, 143, 'terminated (SIGTERM)')])
def test_interrupt_and_terminate(tmp_path, sig, status, word):
    # SIGINT as Ctrl-C delivers it (the child must not inherit an ignored SIGINT, as under `cmd &`)
    p = subprocess.Popen([GRADEVAL, '--epochs', '0', '--estimators', 'exact,reinforce', '--samples', '1000000', '--chunk', '100'],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stderr.readline().startswith('training the toy 2-5-5-5-1 network'), 'the status line first'
        first = p.stderr.readline()   # exact is done: reinforce is now drawing its million samples
        assert first.startswith('estimator 1/2'), first
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode == status, (p.returncode, err)
    hint = 'sbn-gradeval --epochs 0 --estimators exact,reinforce --samples 1000000 --chunk 100 --resume'
    assert err.splitlines() == [f'sbn-gradeval: {word}; continue with: {hint}'], err
    assert not (tmp_path / 'gradeval.json').exists()
    assert list(json.loads((tmp_path / 'gradeval.json.partial').read_text())['estimators']) == ['exact']   # what finished is kept



def test_interrupted_run_resumes_to_the_uninterrupted_report(tmp_path):
    "Stopped in its third estimator, resumed with --resume: the report equals an uninterrupted run's (times aside)."
    (tmp_path / 'stop.py').write_text(STOPPER)
    args = [GRADEVAL, '--plugins', 'stop.py', '--epochs', '0', '--estimators', 'exact,st,stop_st,reinforce', '--samples', '300', '--no-progress']
    run = lambda *more, **env: subprocess.run(args + list(more), cwd=tmp_path, capture_output=True, text=True,
                                               env={**os.environ, 'OMP_NUM_THREADS': '1', **env})
    r = run(SBN_TEST_STOP='1')
    assert r.returncode == 130 and r.stderr.strip().endswith('--no-progress --resume'), r.stderr
    assert list(json.loads((tmp_path / 'gradeval.json.partial').read_text())['estimators']) == ['exact', 'st']
    r = run('--samples', '400', '--resume')
    assert r.returncode == 2 and 'cannot resume: the saved report has samples 300, this run 400' in r.stderr, r.stderr
    r = subprocess.run([*args[:5], '--estimators', 'exact,stop_st,reinforce', *args[7:], '--resume'], cwd=tmp_path,
                       capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 2 and 'also holds st, which --estimators leaves out' in r.stderr, r.stderr   # nothing saved is lost
    assert (tmp_path / 'gradeval.json.partial').exists()
    r = run('--resume')
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / 'gradeval.json.partial').exists()
    r = run('--json', 'full.json', '--plot', 'full.png')
    assert r.returncode == 0 and 'starting afresh' not in r.stderr, r.stderr
    strip = lambda r: {**r, 'estimators': {k: {**v, 'seconds': None} for k, v in r['estimators'].items()}}
    resumed, full = (json.loads((tmp_path / f).read_text()) for f in ('gradeval.json', 'full.json'))
    assert list(resumed['estimators']) == ['exact', 'st', 'stop_st', 'reinforce']
    assert strip(resumed) == strip(full)
    r = run('--resume')
    assert r.returncode == 2 and 'nothing to resume' in r.stderr and 'gradeval.json.partial does not exist' in r.stderr, r.stderr
    assert run(SBN_TEST_STOP='1').returncode == 130   # stopped again; a run without --resume says it starts afresh
    r = run()
    assert r.returncode == 0 and 'starting afresh' in r.stderr and '--resume continues it' in r.stderr, r.stderr
    assert strip(json.loads((tmp_path / 'gradeval.json').read_text())) == strip(full)


def test_debug_shows_the_traceback(tmp_path, call):
    r = call(['--estimators', 'reinforse', '--epochs', '0', '--debug'])
    assert r.returncode == 2 and r.stderr.startswith('Traceback') and 'ValueError' in r.stderr
    assert r.stderr.splitlines()[-1].startswith("sbn-gradeval: error: unknown estimator 'reinforse'")


def test_metric_arguments_are_validated():
    g = torch.randn(5, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"estimates must be \[S, d\]"): gradient_metrics(torch.randn(10, 5), g[:3])
    with pytest.raises(ValueError, match="exact gradient is zero"): gradient_metrics(torch.randn(10, 5), torch.zeros(5))
    with pytest.raises(ValueError, match="at least 2 are needed.*got 1"): gradient_metrics(g[None] + 1, g)
    with pytest.raises(ValueError, match="Ms must be positive integers"): accuracy_curves(torch.randn(10, 5), g, Ms=[0])


def saturated_toy():
    "The toy network at its initialisation with weights x30, on 20 points: half its units' rarer state has probability < 1e-10."
    X, Y = cos_data(seed=0)
    net = init_sbn_(SBNMLP([2, 5, 5, 5, 1]), X, seed=0)
    with torch.no_grad():
        for p in net.parameters(): p.mul_(30)
    return net, X[:20], Y[:20]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_unbiased_estimators_pass_on_a_saturated_network(seed):
    # without the resolution REINFORCE got p = 0 in layers 1 and 2 and DisARM in layers 0 to 2, for every one of these seeds
    net, X, Y = saturated_toy()
    rep = gradient_report(net, X, Y, 'reinforce,arm,disarm', samples=2000, seed=seed, progress=False)
    p = {k: [g['p_unbiased'] for g in r['groups']] for k, r in rep['estimators'].items()}
    assert all(v > 1e-3 for ps in p.values() for v in ps), p
    assert rep['estimators']['reinforce']['groups'][1]['unresolved'] > 0   # the coordinates the plain z-test rejected


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_biased_estimators_still_fail_on_a_saturated_network(seed):
    net, X, Y = saturated_toy()
    rep = gradient_report(net, X, Y, 'st', samples=2000, seed=seed, progress=False)
    assert all(g['p_unbiased'] < 1e-6 for g in rep['estimators']['st']['groups'][:2])   # ST's relative bias there: 1.5 and 5.8
    exact = {k: v[0] for k, v in draw_estimates(net, X, Y, estimator('exact'), 1).items()}
    torch.manual_seed(seed)
    wrong = {k: 1.5 * v for k, v in draw_estimates(net, X, Y, estimator('reinforce'), 2000).items()}   # REINFORCE off by half
    assert all(gradient_metrics(wrong[k], exact[k])['p_unbiased'] < 1e-6 for k in ('layer-2', 'layer-3'))


def test_report_table_names_the_unresolved_coordinates():
    from sbn_estimators.gradeval import report_table
    g = dict(rel_rmse_1=1., rel_bias=0., rel_std=1., cos_1=.5, p_unbiased=1.)
    rep = dict(exact_loss=.5, samples=100, seed=0, estimators={
        'reinforce': dict(groups=[dict(g, group='layer-0', unresolved=0), dict(g, group='layer-1', unresolved=3)]),
        'old': dict(groups=[dict(g, group='layer-0')])})   # a report written before `unresolved` existed
    lines = report_table(rep).splitlines()
    assert len(lines) == 2 + 3 + 1 and lines[-1].endswith('untestable, not counted in p_unbiased): reinforce layer-1: 3')
    rep['estimators']['reinforce']['groups'][1]['unresolved'] = 0
    assert len(report_table(rep).splitlines()) == 5


@pytest.mark.parametrize('seed', ['18446744073709551616', '4294967296', '-5'])
def test_seed_range_is_checked_before_the_work(tmp_path, call, seed, trained):
    "--seed in 0..2**32-1, as sbn-train's: refused with one line before the network is trained or read."
    r = call(['--seed', seed])
    one_line_error(r, f'seed must be in 0..4294967295', f'got {seed}')
    assert not any(trained) and not (tmp_path / 'gradeval.json').exists()


def test_network_file_with_arrays_it_would_not_read(tmp_path, call):
    "A gap in the layers (W0, W1, W3) or an array of another name: refused, not a smaller network."
    np.savez(tmp_path / 'gap.npz', **toy_arrays(W3=np.zeros((1, 3)), b3=np.zeros(1)))
    one_line_error(call([str(tmp_path / 'gap.npz'), '--estimators', 'exact']), "gap.npz holds arrays ['W3', 'b3'] beyond X, Y, W0, b0, ..., W1, b1")
    np.savez(tmp_path / 'extra.npz', **toy_arrays(note=np.zeros(1)))
    one_line_error(call([str(tmp_path / 'extra.npz'), '--estimators', 'exact']), "holds arrays ['note']")
    assert not (tmp_path / 'gradeval.json').exists()


def test_report_holds_the_environment(tmp_path, call):
    "The report says what computed it, as sbn-train's result.json does: versions and threads."
    r = call(['--epochs', '0', '--estimators', 'exact,st', '--samples', '20', '--threads', '1'])
    assert r.returncode == 0, r.stderr
    env = json.loads((tmp_path / 'gradeval.json').read_text())['environment']
    assert env['threads'] == 1 and env['torch'] == torch.__version__ and env['device'] == 'cpu' and {'python', 'sbn_estimators'} <= set(env)


def test_accuracy_curves_stay_on_the_estimates_device():
    "The quantile levels are made on the estimates' device: 'meta' stands in for a GPU (a CPU/meta mix raises as a CPU/CUDA one)."
    from torch.utils._python_dispatch import TorchDispatchMode
    class Items(TorchDispatchMode):   # meta tensors hold no values: `.item()` answers 0.5
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return 0.5 if func is torch.ops.aten._local_scalar_dense.default else func(*args, **(kwargs or {}))
    est, exact = torch.randn(6, 3, device='meta'), torch.randn(3, device='meta')
    with Items(): out = accuracy_curves(est, exact, Ms=[1, 2])
    assert out['cos_q15'] == out['cos_q85'] == [0.5, 0.5]


def test_resume_refuses_another_chunk():
    "The chunk size changes the draws, so a report resumed with another chunk would mix two streams: refused."
    from sbn_estimators.gradeval import train_toy_sbn
    net, X, Y = train_toy_sbn(epochs=2)
    kw = dict(samples=60, seed=3, progress=False, Ms=[1, 10])
    a = gradient_report(net, X, Y, 'st', chunk=60, **kw)
    b = gradient_report(net, X, Y, 'st', chunk=7, **kw)
    assert a['estimators']['st']['groups'][0]['rel_rmse_1'] != b['estimators']['st']['groups'][0]['rel_rmse_1']
    with pytest.raises(ValueError, match='chunk'): gradient_report(net, X, Y, 'st', chunk=7, resume=a, **kw)


def test_a_rejected_coordinate_is_not_unresolved():
    "`unresolved` counts coordinates rejected only without the resolution; a plainly biased one is rejected, not untestable."
    torch.manual_seed(0)
    exact = torch.tensor([1., 1., 1.], dtype=torch.float64)
    est = exact + 0.1 * torch.randn(1000, 3, dtype=torch.float64); est[:, 0] += 1.
    m = gradient_metrics(est, exact)
    assert m['p_unbiased'] < 1e-6 and m['unresolved'] == 0

def test_toy_training_follows_its_seed():
    "train_toy_sbn(seed=s): cos_data, init_sbn_ and the batch order's generator seeded with the three seeds SeedSequence(s) derives (one epoch by hand)."
    from sbn_estimators.gradeval import train_toy_sbn
    from sbn_estimators.exact import exact_loss
    import numpy as np
    net, X, Y = train_toy_sbn(epochs=1, seed=3)
    data_seed, init_seed, order_seed = (int(s) for s in np.random.SeedSequence(3).generate_state(3))
    assert torch.equal(X, cos_data(seed=data_seed)[0])
    ref = init_sbn_(SBNMLP([2, 5, 5, 5, 1]), X, seed=init_seed)
    opt = torch.optim.SGD(ref.parameters(), lr=0.03, momentum=0.9)
    for idx in torch.randperm(len(X), generator=torch.Generator().manual_seed(order_seed)).split(10):
        opt.zero_grad(); exact_loss(ref, X[idx], Y[idx]).backward(); opt.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters()))

def test_plot_is_written_in_the_format_its_name_says(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    from sbn_estimators.gradeval import train_toy_sbn, plot_report
    net, X, Y = train_toy_sbn(epochs=0)
    rep = gradient_report(net, X[:20], Y[:20], 'st', samples=20, progress=False)
    plot_report(rep, tmp_path / 'g.svg'); plot_report(rep, tmp_path / 'g.pdf')
    assert b'<svg' in (tmp_path / 'g.svg').read_bytes()[:1000] and (tmp_path / 'g.pdf').read_bytes().startswith(b'%PDF')


def test_toy_training_takes_its_optimiser_settings():
    "train_toy_sbn passes lr, momentum, batch_size and sizes on: one epoch by hand, with values other than the defaults."
    from sbn_estimators.gradeval import train_toy_sbn
    from sbn_estimators.exact import exact_loss
    import numpy as np
    net, X, Y = train_toy_sbn(epochs=1, seed=3, lr=0.05, momentum=0.5, batch_size=25, sizes=(2, 4, 1))
    _, init_seed, order_seed = (int(s) for s in np.random.SeedSequence(3).generate_state(3))   # as train_toy_sbn derives them
    ref = init_sbn_(SBNMLP([2, 4, 1]), X, seed=init_seed)
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.5)
    for idx in torch.randperm(len(X), generator=torch.Generator().manual_seed(order_seed)).split(25):
        opt.zero_grad(); exact_loss(ref, X[idx], Y[idx]).backward(); opt.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters()))


def test_cli_trains_the_toy_network_with_its_seed(tmp_path, call):
    "--seed also seeds the toy network (data, initialisation, batch order), as the report's 'network' says."
    from sbn_estimators.gradeval import train_toy_sbn
    from sbn_estimators.exact import exact_loss
    r = call(['--seed', '3', '--epochs', '1', '--estimators', 'exact', '--samples', '2'])
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / 'gradeval.json').read_text())
    net, X, Y = train_toy_sbn(epochs=1, seed=3)
    assert (rep['network'], rep['exact_loss']) == ('toy (cos data, 1 epochs, seed 3)', exact_loss(net, X, Y).item())


def test_epochs_with_a_network_file_is_refused(call, tmp_path):
    "--epochs trains the built-in toy network: given with a network file it would be ignored, so it is refused."
    r = call(['net.npz', '--epochs', '50', '--estimators', 'exact', '--samples', '2'])
    one_line_error(r, '--epochs trains the toy network, and network file net.npz is given; drop --epochs')
    assert list(tmp_path.iterdir()) == []


def test_unregistered_estimators_are_labelled_by_their_class():
    """An estimator with no spec (a class nobody registered) is labelled by its class name, numbered when repeated: no
    record is lost, and the table and the JSON file hold the labels."""
    ST = type(estimator('st'))
    class Mine(ST): name = None
    X, Y = cos_data(20)
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    report = gradient_report(net, X, Y, [Mine(), Mine(), estimator('st'), 'st'], samples=2, progress=False)
    assert list(report['estimators']) == ['Mine', 'Mine#2', 'st', 'st#2']
    assert report_table(report).splitlines()[2].startswith('Mine ')
    assert list(json.loads(json.dumps(report))['estimators']) == list(report['estimators'])


def test_the_plot_shows_negative_cosines_and_flat_rmse_curves():
    "The cosine axis reaches below the lowest cosine (an estimate pointing the wrong way); a flat RMSE curve gets a range a log axis can draw."
    import matplotlib; matplotlib.use('Agg')
    from sbn_estimators.gradeval import plot_report
    c = dict(M=[1, 2, 4], rel_rmse=[0.25, 0.25, 0.25 * (1 + 2e-16)], cos=[-0.6] * 3, cos_q15=[-0.6] * 3, cos_q85=[-0.6] * 3)
    fig = plot_report({'exact_grad': {'layer-0': [0.]}, 'estimators': {'mean_field': {'curves': {'layer-0': c}}}})
    (lo, hi), (rlo, rhi) = fig.axes[1].get_ylim(), fig.axes[0].get_ylim()
    assert lo < -0.6 and hi > 1 and rlo < 0.25 < rhi and rhi / rlo > 2, (lo, hi, rlo, rhi)


def test_an_infinite_estimate_is_refused_by_the_report(monkeypatch):
    "One infinite estimate (an overflow) stops the report, as a NaN does: its metrics, curves and plot would be meaningless."
    import math
    import sbn_estimators.gradeval as ge
    X, Y = cos_data(20)
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    real = ge.draw_estimates
    def one_overflow(net, X, Y, est, S, *a, **kw):
        d = real(net, X, Y, est, S, *a, **kw)
        first = next(iter(d))
        d[first][0, 0] = math.inf if est.name == 'st' else d[first][0, 0]
        return d
    monkeypatch.setattr(ge, 'draw_estimates', one_overflow)
    assert ge.gradient_report(net, X, Y, 'reinforce', samples=2, progress=False)['estimators']['reinforce']
    with pytest.raises(ValueError, match=rf"estimator 'st' gave NaN or infinite estimates for {net.group_names[0]}: "
                                         r"it is broken on this network, or overflows in torch.float"):
        ge.gradient_report(net, X, Y, 'reinforce,st', samples=2, progress=False)


def test_the_report_file_is_strict_json_and_read_back(tmp_path, call):
    "A deterministic, biased estimator's z_max (+inf) is null in the file, and `read_report` gives inf again; a resumed run keeps it."
    import math
    from sbn_estimators.gradeval import read_report
    strict = lambda f: json.loads((tmp_path / f).read_text(), parse_constant=lambda c: pytest.fail(f"{f} holds {c}"))
    assert call(['--epochs', '0', '--estimators', 'mean_field,st', '--samples', '20']).returncode == 0
    assert {g['z_max'] for g in strict('gradeval.json')['estimators']['mean_field']['groups']} == {None}
    assert {g['z_max'] for g in read_report(tmp_path / 'gradeval.json')['estimators']['mean_field']['groups']} == {math.inf}
    first, report = strict('gradeval.json'), read_report(tmp_path / 'gradeval.json')
    (tmp_path / 'gradeval.json.partial').write_text(json.dumps({k: v for k, v in report.items() if k != 'environment'}))
    r = call(['--epochs', '0', '--estimators', 'mean_field,st', '--samples', '20', '--resume'])
    assert r.returncode == 0, r.stderr
    assert strict('gradeval.json')['estimators'] == first['estimators']   # both reused from the partial report, written as before
    (tmp_path / 'x.json').write_text('[1]')
    with pytest.raises(ValueError, match="x.json is not a gradeval report: it has no 'estimators' object"): read_report(tmp_path / 'x.json')


@pytest.mark.parametrize('record', [5, {'groups': 5}, {'spec': 'exact', 'groups': []}])
def test_resume_refuses_a_partial_report_of_another_structure(tmp_path, call, record):
    "An estimator's record that is not an object with spec, groups (a list of objects) and curves: one line naming the file."
    (tmp_path / 'r.json.partial').write_text(json.dumps({'network': 'toy (cos data, 0 epochs, seed 0)', 'estimators': {'exact': record}}))
    r = call(['--epochs', '0', '--estimators', 'exact', '--samples', '10', '--json', 'r.json', '--resume'])
    one_line_error(r, "--resume: r.json.partial is not a gradeval report: estimators['exact'] must be an object holding groups")
    (X, Y), net = cos_data(seed=0), SBNMLP([2, 3, 1])
    with pytest.raises(ValueError, match=r"resume is not a gradeval report: estimators\['exact'\]"):
        gradient_report(net, X, Y, 'exact', samples=2, progress=False, resume={'estimators': {'exact': record}})


def test_estimates_beyond_the_memory_limit_are_refused_before_training(call, monkeypatch, trained):
    "samples x coordinates x bytes (and the metrics' copies) against exact's memory limit, before the toy network is trained."
    r = call(['--estimators', 'exact', '--samples', '1000000000'])
    one_line_error(r, '1000000000 estimates of the 81 gradient coordinates need about', "above exact's memory limit")
    assert not any(trained)
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', '1e6')   # 10,000 estimates of the toy network need about 21 MB
    one_line_error(call(['--estimators', 'exact', '--samples', '10000']), 'need about 0.0209 GB', 'limit of 0.001 GB')


def test_an_estimator_of_another_noise_is_refused_before_any_work(call, trained):
    r = call(['--estimators', 'exact,psa,st:noise=normal'])
    one_line_error(r, "estimator 'st' assumes normal noise but the network has logistic noise")
    assert not any(trained)
    (X, Y), net = cos_data(seed=0), SBNMLP([2, 3, 1])
    with pytest.raises(ValueError, match="estimator 'st' assumes normal noise"):
        gradient_report(net, X, Y, 'exact,st:noise=normal', samples=2, progress=False, on_estimator=lambda r: pytest.fail('drew exact'))


def test_report_table_lists_unresolved_coordinates_of_stochastic_estimators_only():
    "A deterministic estimator gives one estimate however many are drawn: its coordinates are not 'within the resolution of the samples'."
    g = dict(group='layer-0', rel_rmse_1=1., rel_bias=1., rel_std=0., cos_1=.5, p_unbiased=0., unresolved=2)
    rep = dict(exact_loss=.5, samples=100, seed=0, estimators={'mean_field': dict(stochastic=False, groups=[g]),
                                                               'reinforce': dict(stochastic=True, groups=[g])})
    assert report_table(rep).splitlines()[-1].endswith('not counted in p_unbiased): reinforce layer-0: 2')
    (X, Y), net = cos_data(seed=0), SBNMLP([2, 3, 1])
    rep = gradient_report(net, X[:20], Y[:20], 'mean_field,st', samples=2, progress=False)
    assert [r['stochastic'] for r in rep['estimators'].values()] == [False, True]


def test_list_and_help_say_what_a_default_none_and_an_existing_file_mean(call):
    out = call(['--list']).stdout
    assert "backend=None (or backend left out); flip-sum backend: 'auto', 'eager', 'compiled' (None: `$PSA_BACKEND`, else 'auto')" in out
    assert "n=None (or n left out); paths per example" in out
    text = ' '.join(call(['--help']).stdout.split())
    assert 'report file, .json, replaced if it exists' in text and '..., replaced if it exists (default: gradeval.png)' in text
