"Review s60 (U): a lock taken over with stderr unwritable, an empty lock, `~` in the learning-rate search's folders, save_sbn on a full disk, a network file that is a device, the resume hint after a full disk."
import argparse, errno, io, json, os, socket, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
from sbn_estimators import cli
from sbn_estimators.cli import RunFolder, RunFolderLocked

posix = pytest.mark.skipif(os.name != 'posix', reason="a lock is taken over on POSIX only")


class _FullStderr(io.StringIO):
    "stderr on a full device (`2>/dev/full`): every write raises."
    def write(self, s): raise OSError(errno.ENOSPC, 'No space left on device')


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()   # a process id that no longer runs
    return p.pid


def _stale_lock(path: Path):
    path.write_text(json.dumps(dict(pid=_dead_pid(), host=socket.gethostname(), started='2000-01-01 00:00:00')))


# 1. taking over a dead run's lock with stderr unwritable leaves no empty lock; an empty lock whose flock is free is stale

@posix
def test_a_take_over_whose_note_cannot_be_printed_leaves_no_empty_lock(tmp_path, monkeypatch):
    run = tmp_path / 'run'; run.mkdir(); (run / 'last.pt').write_bytes(b'x')
    _stale_lock(run / '.lock')
    monkeypatch.setattr(sys, 'stderr', _FullStderr())
    with pytest.raises(OSError, match='No space left'):
        with RunFolder(run, resume=True): pass
    assert not (run / '.lock').exists()   # was: an empty lock, and self._fd unset, so nothing removed it
    monkeypatch.setattr(sys, 'stderr', io.StringIO())
    with RunFolder(run, resume=True) as f:   # was: RunFolderLocked ("in use by another process") for every later run
        assert json.loads(f.lock.read_text())['pid'] == os.getpid()
    assert not (run / '.lock').exists()


@posix
def test_a_report_lock_taken_over_with_stderr_unwritable_is_removed(tmp_path, monkeypatch):
    from sbn_estimators.gradeval import _ReportLock
    out = tmp_path / 'g.json'
    lock = _ReportLock(out)
    _stale_lock(lock.lock)
    monkeypatch.setattr(sys, 'stderr', _FullStderr())
    with pytest.raises(OSError, match='No space left'):
        with _ReportLock(out): pass
    assert not lock.lock.exists()   # was: an empty .g.json.lock refusing every later sbn-gradeval --json g.json
    monkeypatch.setattr(sys, 'stderr', io.StringIO())
    with _ReportLock(out) as l: assert json.loads(l.lock.read_text())['pid'] == os.getpid()


@posix
def test_an_empty_lock_whose_flock_is_free_is_taken_over(tmp_path, capsys):
    run = tmp_path / 'run'; run.mkdir(); (run / 'last.pt').write_bytes(b'x')
    (run / '.lock').write_bytes(b'')   # left by a run killed between creating the lock and writing into it (or by the bug above)
    with RunFolder(run, resume=True) as f:   # was: RunFolderLocked, for good
        assert json.loads(f.lock.read_text())['pid'] == os.getpid()
    assert 'taking over' in capsys.readouterr().err and not (run / '.lock').exists()


@posix
def test_an_empty_lock_whose_flock_is_held_is_in_use(tmp_path):
    import fcntl
    run = tmp_path / 'run'; run.mkdir(); (run / 'last.pt').write_bytes(b'x')
    (run / '.lock').write_bytes(b'')
    fd = os.open(run / '.lock', os.O_RDWR)   # a live run that has created its lock and not yet written into it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderLocked, match='in use by another process'):
            with RunFolder(run, resume=True): pass
        assert (run / '.lock').read_bytes() == b''   # not truncated or written by the refused run
    finally: os.close(fd)


# 2. `~` in the folders of search_lr, run_comparison and search_table: the home folder, as train(out=...) takes it

def _stub(cfg, out=None, callbacks=(), progress=False, **kw):
    for cb in callbacks: cb(1, dict(val_acc=cfg.lr, val_det_acc=cfg.lr, val_loss=1.0, val_det_loss=1.0))
    if out is not None: Path(out).mkdir(parents=True, exist_ok=True); (Path(out) / 'out.txt').write_text('x')
    return dict(test_acc=0.5, test_ens_acc=0.5, test_det_acc=0.5, seconds_per_epoch=1.0)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home, cwd = tmp_path / 'home', tmp_path / 'cwd'; home.mkdir(); cwd.mkdir()
    monkeypatch.setenv('HOME', str(home)); monkeypatch.chdir(cwd)
    return home


def test_search_lr_expands_tilde(home):
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import search_lr
    rec = search_lr(TrainConfig(epochs=1, n_train=100, val=20, batch_size=32), (1e-3, 1e-2), out='~/search', train_fn=_stub)
    assert rec['lr'] == 1e-2 and (home / 'search' / 'lr_search.json').is_file()
    assert not Path('~').exists()   # was: ./~/search/lr_search.json in the working folder


def test_run_comparison_and_search_table_expand_tilde(home):
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import run_comparison, search_table
    rows = run_comparison(TrainConfig(epochs=1, n_train=100, val=20, batch_size=32), {'st': {'estimator': 'st'}}, out='~/cmp',
                          seeds=(0,), grid=(1e-3, 1e-2), train_fn=_stub, log=None)
    assert len(rows) == 1 and rows[0]['lr'] == 1e-2
    assert (home / 'cmp' / 'st' / 'lr_search.json').is_file() and (home / 'cmp' / 'st' / 'seed0' / 'summary.json').is_file()
    assert (home / 'cmp' / 'st' / 'seed0' / 'out.txt').is_file()   # train_fn's folder: the same place
    assert not Path('~').exists()   # was: ./~/cmp/... in the working folder, split from the runs train put in the home folder
    assert '**' in search_table('~/cmp', ['st'])   # was: "no learning-rate search of 'st': ~/cmp/st/lr_search.json does not exist"


# 3. save_sbn writes atomically: a failed write keeps the old file and names the path

def test_save_sbn_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    from sbn_estimators.sbn import SBNMLP, save_sbn, load_sbn
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 1])
    X, Y = torch.randn(8, 2, dtype=torch.float64), torch.ones(8, 1, dtype=torch.float64)
    path = save_sbn(tmp_path / 'net.npz', net, X, Y)
    def savez(file, **arrays):   # a disk that fills after the first bytes
        f = open(file, 'wb') if isinstance(file, (str, os.PathLike)) else file
        f.write(b'PK\x03\x04 half a file')
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(np, 'savez', savez)
    with pytest.raises(OSError, match='No space left') as e: save_sbn(path, net, X, Y)
    assert e.value.filename == str(path)   # was: no file named
    monkeypatch.undo()
    net2, X2, _ = load_sbn(path)   # was: a half-written file in its place
    assert torch.equal(X2, X) and [p.name for p in tmp_path.iterdir()] == ['net.npz']


# 4. sbn-gradeval's network file naming a device or a pipe: not "does not exist"

@pytest.mark.skipif(not os.path.exists('/dev/null') or not hasattr(os, 'mkfifo'), reason="needs /dev/null and fifos")
@pytest.mark.parametrize('kind', ['device', 'fifo'])
def test_gradeval_names_a_network_that_is_not_a_regular_file(tmp_path, capsys, kind):
    from sbn_estimators.gradeval import gradeval_cli
    net = '/dev/null' if kind == 'device' else str(tmp_path / 'net.npz')
    if kind == 'fifo': os.mkfifo(net)
    with pytest.raises(SystemExit) as e: gradeval_cli([net, '--json', str(tmp_path / 'g.json'), '--quiet'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"network file {net} is not a regular file (a device or a pipe)" in err, err   # was: "does not exist"


# 5. a full disk that leaves a resumable state: the command says how to continue, as after Ctrl-C

def _demo(exc, hint):
    p = argparse.ArgumentParser(prog='demo')
    def main(args): raise exc
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        try: cli.run_cli(p, main, [], resume_hint=hint); code = 0
        except SystemExit as e: code = e.code
    finally: sys.stderr = old
    return code, err.getvalue()


def test_a_full_disk_prints_the_resume_hint():
    full = OSError(errno.ENOSPC, 'No space left on device', 'run/last.pt')
    assert _demo(full, lambda a: 'demo --resume') == (1, "demo: error: [Errno 28] No space left on device: 'run/last.pt'; continue with: demo --resume\n")   # was: no hint
    assert _demo(full, lambda a: None) == (1, "demo: error: [Errno 28] No space left on device: 'run/last.pt'\n")
    long = OSError(errno.ENAMETOOLONG, 'File name too long', 'x' * 300)   # the input's fault: nothing to resume, no hint asked
    code, err = _demo(long, lambda a: pytest.fail('resume_hint asked for a usage error'))
    assert code == 2 and 'continue with' not in err
