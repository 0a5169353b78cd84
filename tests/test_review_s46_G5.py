"Review s46, fix G5 (hostile environments): a full disk or a file-size limit while a checkpoint or report is written (an OSError naming the file, exit 1), stdout closed, a bad MPLBACKEND (named, before the training), RANK and WORLD_SIZE checked (RANK ignored in one process), `~` expanded in output paths and run folders, `train`'s `out` checked, text files in UTF-8 whatever the locale."
import errno, json, os, resource, subprocess, sys, textwrap
import matplotlib.font_manager   # the font cache built here, not by a child under a file-size limit (which would leave it truncated)
from pathlib import Path
from types import SimpleNamespace
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators import cli as C
from sbn_estimators.train import TrainConfig, train, load_run
from conftest import sbn_train

torch.set_num_threads(1)
SMALL = dict(epochs=1, model='sbn_mlp:width=16', eval_samples=1, n_train=64, val=32, n_test=64)
FAST = ['--epochs', '1', '--model', 'sbn_mlp:width=16', '--eval-samples', '1', '--n-train', '64', '--val', '32', '--n-test', '64',
        '--threads', '1', '--quiet']
ROOT = Path(__file__).resolve().parents[1]


def env(**kw):
    "This process's environment for a child Python: the package of this checkout, one thread, no .pyc written; `kw` set (None: removed)."
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1', PYTHONDONTWRITEBYTECODE='1')
    for k, v in kw.items():
        if v is None: e.pop(k, None)
        else: e[k] = v
    return e


def limited(nbytes):
    "A `preexec_fn` that limits the size of the files the child writes (`ulimit -f`)."
    def f():   # runs in the forked child before exec: no import there (the module is imported above)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return f


def run(args, cwd, timeout=300, **kw):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def one_line(p, status):
    assert p.returncode == status and len(p.stderr.strip().splitlines()) == 1 and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-3000:])
    return p.stderr.strip()


# 1. a file-size limit (or a full disk) while a checkpoint or a report is written: an OSError naming the file, exit 1

def test_save_checkpoint_under_a_file_size_limit_names_the_file(tmp_path):
    script = textwrap.dedent(f'''
        import os, sys
        from sbn_estimators.train import save_checkpoint
        import resource, torch
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try: save_checkpoint({str(tmp_path / 'c.pt')!r}, w=torch.zeros(100_000))
        except Exception as e: print(type(e).__name__, e.errno if isinstance(e, OSError) else None, getattr(e, 'filename', None)); sys.exit(0)
        print('no error')''')
    p = run(['-c', script], tmp_path, env=env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ['OSError', str(errno.EFBIG), str(tmp_path / 'c.pt')], p.stdout   # was: RuntimeError of torch's writer, naming no file
    assert list(tmp_path.iterdir()) == []   # the temporary file is gone, and no c.pt


def test_checkpoints_load_as_before(tmp_path):
    T.save_checkpoint(tmp_path / 'c.pt', epoch=3, w=torch.arange(5.))
    ck = T.load_checkpoint(tmp_path / 'c.pt')
    assert ck['epoch'] == 3 and torch.equal(ck['w'], torch.arange(5.))
    with C.RunFolder(tmp_path / 'r') as f: C.torch_save(f.path / 'x.pt', {'a': torch.ones(2)})
    assert torch.equal(torch.load(tmp_path / 'r' / 'x.pt', weights_only=True)['a'], torch.ones(2))


def test_sbn_train_under_a_file_size_limit(tmp_path):
    p = run(['-m', 'sbn_estimators.train', *FAST, '--model', 'sbn_mlp', '--out', 'fs'], tmp_path, env=env(), preexec_fn=limited(300_000))
    err = one_line(p, 1)   # was: a traceback ending in torch's RuntimeError "unexpected pos"
    assert 'File too large' in err and ("fs/best.pt" in err or "fs/last.pt" in err), err
    assert not (tmp_path / 'fs').exists()   # a new run stopped before its first last.pt leaves no folder


def test_a_file_size_limit_is_the_machines_error(tmp_path):
    "EFBIG is among the machine's errors (exit 1, as a full disk), and atomic writes name the file."
    import argparse
    def main(a): C.save_json(tmp_path / 'r.json', {'x': 1}); raise OSError(errno.EFBIG, 'File too large')
    with pytest.raises(SystemExit) as e: C.run_cli(argparse.ArgumentParser(prog='t'), main, [])
    assert e.value.code == 1   # was 2
    def write(): raise OSError(errno.ENOSPC, 'No space left on device')
    with pytest.raises(OSError) as e:
        with C.atomic_path(tmp_path / 'a.json') as tmp: tmp.write_text('{}'); write()
    assert e.value.filename == str(tmp_path / 'a.json') and 'a.json' in str(e.value)   # was: no file named
    assert sorted(q.name for q in tmp_path.iterdir()) == ['r.json']


def test_sbn_gradeval_under_a_file_size_limit(tmp_path):
    p = run(['-m', 'sbn_estimators.gradeval', '--json', 'g8.json', '--plot', 'g8.png', '--epochs', '2', '--samples', '100', '--threads', '1'],
            tmp_path, env=env(), preexec_fn=limited(20 * 1024))
    err = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 1 and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-3000:])   # was: exit 2
    assert 'File too large' in err and 'g8.json' in err, err   # was: "[Errno 27] File too large", no file


# 2. stdout closed (`>&-`): no AttributeError traceback

@pytest.mark.parametrize('module', ['train', 'gradeval', 'bench'])
def test_list_with_stdout_closed(tmp_path, module):
    p = subprocess.run(['bash', '-c', f'"{sys.executable}" -m sbn_estimators.{module} --list >&-'], cwd=tmp_path, env=env(),
                       capture_output=False, stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 0 and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-3000:])


def test_training_with_stdout_closed(tmp_path):
    cmd = ' '.join([f'"{sys.executable}"', '-m', 'sbn_estimators.train', *FAST, '--out', 'so'])
    p = subprocess.run(['bash', '-c', cmd + ' >&-'], cwd=tmp_path, env=env(), stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 0 and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-3000:])
    assert (tmp_path / 'so' / 'result.json').is_file() and (tmp_path / 'so' / 'curves.png').is_file()


# 3. a backend matplotlib does not know: named, before the training

def test_bad_mplbackend_stops_sbn_train_before_the_training(tmp_path):
    p = run(['-m', 'sbn_estimators.train', *[a for a in FAST if a != '--quiet'], '--out', 'mb1'], tmp_path, env=env(MPLBACKEND='junk'))
    err = one_line(p, 2)   # was: the whole training (epoch lines), then "Key backend: 'junk' is not a valid value ..."
    assert 'MPLBACKEND' in err and "'junk'" in err, err
    assert not (tmp_path / 'mb1').exists()


def test_bad_mplbackend_named_by_gradeval_and_plot_suffixes(tmp_path):
    p = run(['-m', 'sbn_estimators.gradeval', '--json', 'g.json', '--epochs', '1', '--samples', '10'], tmp_path, env=env(MPLBACKEND='junk'))
    assert 'MPLBACKEND' in one_line(p, 2)
    p = run(['-c', 'from sbn_estimators import cli; cli.plot_suffixes()'], tmp_path, env=env(MPLBACKEND='junk'))
    assert p.returncode == 1 and "ValueError: environment variable MPLBACKEND='junk'" in p.stderr, p.stderr[-2000:]


# 4. RANK and WORLD_SIZE checked; RANK ignored in a single process

@pytest.fixture
def no_init(monkeypatch):
    "`dist.init_process_group` fails the test: the checks must come first."
    def init(*a, **kw): raise AssertionError('init_process_group reached')
    monkeypatch.setattr(T.dist, 'init_process_group', init)
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK'): monkeypatch.delenv(k, raising=False)


@pytest.mark.parametrize('world, rank, message', [
    ('abc', None, "environment variable WORLD_SIZE must be an integer (torchrun sets it), got 'abc'"),
    ('0', None, 'environment variable WORLD_SIZE must be the number of processes, >= 1, got 0'),
    ('-2', '0', 'WORLD_SIZE must be the number of processes, >= 1, got -2'),
    ('2', 'x', "environment variable RANK must be an integer (torchrun sets it), got 'x'"),
    ('2', '2', 'environment variable RANK must be in 0..1 under WORLD_SIZE 2 (torchrun sets both), got 2'),
    ('2', '-1', 'RANK must be in 0..1 under WORLD_SIZE 2')])
def test_world_size_and_rank_are_checked(monkeypatch, no_init, world, rank, message):
    monkeypatch.setenv('WORLD_SIZE', world)
    if rank is not None: monkeypatch.setenv('RANK', rank)
    with pytest.raises(ValueError) as e: T._dist_setup('cpu')
    assert message in str(e.value), str(e.value)


@pytest.mark.parametrize('rank', ['1', 'x', '7'])
def test_rank_is_ignored_in_one_process(monkeypatch, no_init, rank):
    monkeypatch.setenv('RANK', rank)
    assert T._dist_setup('cpu') == (0, 1, torch.device('cpu'))
    monkeypatch.setenv('WORLD_SIZE', '1')
    assert T._dist_setup('cpu') == (0, 1, torch.device('cpu'))


def test_sbn_train_with_an_inherited_rank_reports(monkeypatch, no_init, capsys, tmp_path):
    monkeypatch.chdir(tmp_path); monkeypatch.setenv('RANK', '1')
    code, out, err = sbn_train(capsys, *FAST, '--out', 'r1')
    assert code == 0 and 'test accuracy' in out and 'run folder: r1' in out, (code, out, err)   # was: trained, printed nothing


# 6. `~` expanded in output paths and run folders

@pytest.fixture
def home(monkeypatch, tmp_path):
    h = tmp_path / 'home'; h.mkdir(); monkeypatch.setenv('HOME', str(h))
    work = tmp_path / 'work'; work.mkdir(); monkeypatch.chdir(work)
    return h


def test_output_paths_expand_the_home_folder(home):
    assert C.check_output_dir('~/x', '--out') == home / 'x'
    assert C.check_output_file('~/b.jsonl', '--json', ('.jsonl',)) == home / 'b.jsonl'


def test_train_and_load_run_expand_the_home_folder(home):
    train(TrainConfig(**SMALL), '~/r', progress=False)
    assert (home / 'r' / 'result.json').is_file() and not Path('~').exists()   # was: a folder named ~ in the working directory
    model, cfg = load_run('~/r')
    assert cfg.n_train == 64


def test_sbn_train_out_expands_the_home_folder(home, capsys):
    code, out, err = sbn_train(capsys, *FAST, '--out', '~/c')
    assert code == 0 and f'run folder: {home / "c"}' in out, (code, out, err)
    assert (home / 'c' / 'result.json').is_file() and not Path('~').exists()
    code, out, err = sbn_train(capsys, '--resume', '--out', '~/c', '--quiet')   # a finished run: tested again
    assert code == 0 and f'run folder: {home / "c"}' in out, (code, out, err)   # was: nothing to resume, ~/c/config.json does not exist


# 7. train's out checked as --out is

@pytest.mark.parametrize('out', ['', ' ', 5, b'runs/x'])
def test_train_refuses_an_out_that_names_no_folder(monkeypatch, tmp_path, out):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r'out must name a folder \(a str or Path\), or be None to write nothing, got '):
        train(TrainConfig(**SMALL), out, progress=False)
    assert list(tmp_path.iterdir()) == []   # was (''): the run written into the working directory


# 8. text files in UTF-8, whatever the locale

def test_text_files_in_utf8_under_the_c_locale(tmp_path):
    (tmp_path / 'c.json').write_text(json.dumps({'data': 'mnist', 'data_dir': '/tmp/dätä'}, ensure_ascii=False), encoding='utf-8')
    script = textwrap.dedent('''
        import locale, sys
        if locale.getpreferredencoding(False).lower().replace('-', '') not in ('ascii', 'ansi_x3.41968', 'usascii'):
            print('skip', locale.getpreferredencoding(False)); sys.exit(0)
        from sbn_estimators import cli
        from sbn_estimators.train import TrainConfig, train
        assert cli.load_config('c.json', TrainConfig)['data_dir'] == '/tmp/d\\u00e4t\\u00e4'
        with cli.RunFolder('f') as f, cli.atomic_path(f.path / 'n.txt') as tmp: tmp.write_text('caf\\u00e9\\n', encoding='utf-8')
        train(TrainConfig(epochs=1, model='sbn_mlp:width=16', eval_samples=1, n_train=64, val=32, n_test=64), 'r', progress=False)
        print('ok')''')
    p = run(['-c', script], tmp_path, env=env(LC_ALL='C', LANG=None, LC_CTYPE=None, PYTHONUTF8='0', PYTHONIOENCODING=None))
    if p.stdout.startswith('skip'): pytest.skip(f"the C locale's encoding here is {p.stdout.split()[1]}")
    assert p.returncode == 0 and p.stdout.strip() == 'ok', p.stderr[-3000:]   # was: 'ascii' codec can't decode / encode
    assert (tmp_path / 'f' / 'n.txt').read_text(encoding='utf-8') == 'café\n'
    assert 'é' in (tmp_path / 'r' / 'references.bib').read_text(encoding='utf-8')   # a paper's author
