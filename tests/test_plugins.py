"Plugins: an estimator in a file of one's own (or an importable module) works in every command, survives `--resume` from another folder, and bad plugins exit 2 with one line."
import json, os, subprocess, sys, textwrap
import pytest
from conftest import ROOT, console_script
from sbn_estimators.gradeval import gradeval_cli
from sbn_estimators.train import train_cli
from sbn_estimators.bench import bench_cli

PLUGIN = ROOT / 'nbs' / 'examples' / 'gauss_st.py'
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}

def run(cmd, *args, cwd=ROOT, env=ENV):
    return subprocess.run([console_script(cmd), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)

@pytest.mark.parametrize('cmd', ['sbn-gradeval', 'sbn-train', 'sbn-bench'])
def test_every_command_lists_the_plugin(cmd):
    r = run(cmd, '--plugins', PLUGIN, '--list')
    assert r.returncode == 0, r.stderr
    assert 'gauss_st' in r.stdout

def test_train_keeps_the_plugin_for_resume_from_another_folder(tmp_path):
    "A relative plugin path given in one folder; the run's config.json holds it absolute; --resume works from elsewhere."
    out = tmp_path / 'run'
    r = run('sbn-train', '--plugins', 'examples/gauss_st.py', '--estimator', 'gauss_st:sigma=1.2', '--model', 'sbn_mlp:width=16',
            '--epochs', '1', '--quiet', '--threads', '1', '--out', out, cwd=ROOT / 'nbs')
    assert r.returncode == 0, r.stderr
    cfg = json.loads((out / 'config.json').read_text())
    assert cfg['plugins'] == str(PLUGIN.resolve()) and cfg['estimator'] == 'gauss_st:sigma=1.2'
    elsewhere = tmp_path / 'elsewhere'; elsewhere.mkdir()
    r = run('sbn-train', '--resume', '--out', out, '--quiet', '--threads', '1', cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert 'test accuracy' in r.stdout

def test_module_plugin_with_a_model(tmp_path):
    "A plugin named as a module on the path registers an estimator and a model: sbn-gradeval records it, sbn-train trains with both."
    (tmp_path / 'my_est_plugin.py').write_text(textwrap.dedent('''
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        from sbn_estimators.models import register_model, sbn_mlp
        @register_estimator('half_st')
        class HalfST(ST):
            def slope(self, a): return super().slope(a) / 2
        @register_model('tiny_sbn', 'sbn', (None,), 'digits', 'an SBN MLP with one layer of 8 units, from a plugin')
        def tiny_sbn(est=None, in_shape=(64,), n_out=10, **kw): return sbn_mlp(est, in_shape, n_out, width=8, depth=1, **kw)
    '''))
    env = {**ENV, 'PYTHONPATH': str(tmp_path)}
    r = run('sbn-gradeval', '--plugins', 'my_est_plugin', '--estimators', 'exact,half_st', '--samples', '20', '--epochs', '0',
            '--no-progress', '--json', tmp_path / 'g.json', '--plot', tmp_path / 'g.png', env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'g.json').read_text())
    assert report['plugins'] == 'my_est_plugin' and 'half_st' in report['estimators']
    r = run('sbn-train', '--plugins', 'my_est_plugin', '--model', 'tiny_sbn', '--estimator', 'half_st', '--smoke', '--threads', '1', env=env)
    assert r.returncode == 0 and 'smoke run of tiny_sbn / half_st' in r.stdout, r.stderr

def test_bench_times_a_plugin_estimator():
    r = run('sbn-bench', '--plugins', PLUGIN, '--nets', 'fc', '--estimators', 'st,gauss_st', '--repeats', '1', '--batch', '16',
            '--threads', '1', '--json', '-')
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [row['estimator'] for row in rows] == ['st', 'gauss_st'] and all(row['seconds'] > 0 for row in rows)

CLIS = {'sbn-gradeval': gradeval_cli, 'sbn-train': train_cli, 'sbn-bench': bench_cli}

@pytest.fixture
def bad_plugins(tmp_path):
    (tmp_path / 'syntax.py').write_text('def f(:\n')
    (tmp_path / 'raises.py').write_text('raise RuntimeError("plugin broke")\n')
    (tmp_path / 'folder.py').mkdir()
    return tmp_path

@pytest.mark.parametrize('cmd', list(CLIS))
@pytest.mark.parametrize('plugin,msg', [('missing.py', "plugin 'missing.py': no such file"),
                                        ('no_such_module_xyz', "no module named 'no_such_module_xyz'; give an importable module or a .py file"),
                                        ('{dir}/syntax.py', 'failed on import: SyntaxError'),
                                        ('{dir}/raises.py', 'failed on import: RuntimeError: plugin broke'),
                                        ('{dir}/folder.py', "plugin '{dir}/folder.py': a directory, not a .py file")])
def test_bad_plugin_exits_2_with_one_line(cmd, plugin, msg, bad_plugins, tmp_path, capsys):
    args = ['--plugins', plugin.format(dir=bad_plugins), '--list']
    with pytest.raises(SystemExit) as e: CLIS[cmd](args)
    err = capsys.readouterr().err
    msg = msg.format(dir=bad_plugins)
    assert e.value.code == 2 and err.startswith(f'{cmd}: error: ') and msg in err and len(err.strip().splitlines()) == 1, err
    assert not any('syntax' in m or 'raises' in m for m in sys.modules if m.startswith('sbn_plugin_'))

def test_bad_plugin_in_a_training_config(tmp_path, capsys):
    "A config file naming a plugin that is gone: the error names the plugin, and no run folder is made."
    (tmp_path / 'c.json').write_text(json.dumps({'plugins': str(tmp_path / 'gone.py'), 'epochs': 1}))
    with pytest.raises(SystemExit) as e: train_cli(['--config', str(tmp_path / 'c.json'), '--out', str(tmp_path / 'run'), '--quiet'])
    assert e.value.code == 2 and 'gone.py' in capsys.readouterr().err and not (tmp_path / 'run').exists()

def test_plugin_cannot_take_a_builtin_name_in_a_fresh_process(tmp_path):
    "load_plugins imports the built-in estimators first: a plugin registering 'rodeo' is refused even where nothing imported sbn_estimators.rodeo yet."
    (tmp_path / 'plug_rodeo.py').write_text(textwrap.dedent('''
        from sbn_estimators.estimators import register_estimator, LocalEstimator
        @register_estimator('rodeo')
        class Mine(LocalEstimator): pass
        '''))
    code = textwrap.dedent(f'''
        import sys
        from sbn_estimators.estimators import load_plugins
        assert 'sbn_estimators.rodeo' not in sys.modules   # fresh: the built-in is not registered yet
        try: load_plugins({str(tmp_path / 'plug_rodeo.py')!r})
        except ValueError as e: print(e); sys.exit(0)
        sys.exit('the plugin took the name rodeo')
        ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert r.returncode == 0 and "'rodeo' is already registered by sbn_estimators.rodeo" in r.stdout, r.stdout + r.stderr


def test_plugin_files_of_the_same_name_in_two_folders_both_load(tmp_path):
    "One module per file: a second `mine.py` in another folder is imported too, not mistaken for the first."
    import textwrap
    from sbn_estimators.estimators import ESTIMATORS, load_plugins
    files = []
    for d in ('one', 'two'):
        (tmp_path / d).mkdir(); files.append(tmp_path / d / 'mine.py')
        files[-1].write_text(textwrap.dedent(f'''
            from sbn_estimators.estimators import register_estimator, Estimator
            @register_estimator('same_stem_{d}')
            class Mine{d.title()}(Estimator): pass
            '''))
    try:
        load_plugins(','.join(map(str, files)))
        assert {'same_stem_one', 'same_stem_two'} <= set(ESTIMATORS)
    finally:
        for d in ('one', 'two'): ESTIMATORS.pop(f'same_stem_{d}', None)

def test_unregistered_names_point_to_plugins(tmp_path):
    "An unknown estimator or model says how one's own is named; resuming a run whose script registered its estimator says to resume from that script."
    r = run('sbn-train', '--estimator', 'my_st', '--epochs', '1', cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'give --plugins with the module or .py file' in r.stderr, r.stderr
    (tmp_path / 'script.py').write_text(textwrap.dedent(f'''
        import torch; torch.set_num_threads(1)
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        from sbn_estimators.train import TrainConfig, train
        @register_estimator('my_st')
        class MyST(ST): pass
        train(TrainConfig(estimator='my_st', model='sbn_mlp:width=8', epochs=1, n_train=64, n_test=64), {str(tmp_path / 'run')!r}, progress=False)
    '''))
    s = subprocess.run([sys.executable, tmp_path / 'script.py'], capture_output=True, text=True, env=ENV)
    assert s.returncode == 0, s.stderr
    r = run('sbn-train', '--resume', '--out', tmp_path / 'run', cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
    assert "unknown estimator 'my_st'" in r.stderr and 'resume from that script, train(cfg, out, resume=True)' in r.stderr, r.stderr
