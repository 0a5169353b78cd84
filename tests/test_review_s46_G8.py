"Review s46, fix G8: two sbn-gradeval runs on one --json (the second is refused by `cli.RunFolder`'s lock), and an unreadable CIFAR-10 batch (its OSError, not 'not a CIFAR-10 batch')."
import builtins, io, json, os, shlex, shutil, socket, subprocess, sys, time, types
from pathlib import Path
import pytest
from conftest import console_script
from sbn_estimators.gradeval import gradeval_cli
from sbn_estimators.data import read_cifar10, write_fake_cifar10, cifar10_data

GRADEVAL = console_script('sbn-gradeval')
WAITER = '''
import time
from pathlib import Path
from sbn_estimators.estimators import register_estimator
from sbn_estimators.straight_through import ST
@register_estimator('wait_st')
class WaitST(ST):
    "ST that waits (at most 2 minutes) until a file `go` exists in the working folder."
    def forward(self, a):
        t = time.time()
        while not Path('go').exists() and time.time() - t < 120: time.sleep(0.05)
        return super().forward(a)
'''
FAST = ['--epochs', '0', '--estimators', 'exact,st', '--samples', '100', '--threads', '1', '--no-progress']


def _call(args, capsys):
    try: gradeval_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code, err, pid, lock='.gradeval.json.lock'):
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('sbn-gradeval: error: gradeval.json is in use by process '), err
    assert f'process {pid} on {socket.gethostname()}' in lines[0] and f'(lock file {lock})' in lines[0], err


def test_a_second_live_run_on_the_same_json_is_refused_and_leaves_the_first_runs_files(tmp_path, capsys):
    "The reviewer's case: B started while A runs used to delete A's .partial and drop its own report; now B is refused."
    (tmp_path / 'wait.py').write_text(WAITER)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    a = subprocess.Popen([GRADEVAL, '--plugins', 'wait.py', '--epochs', '0', '--estimators', 'exact,wait_st', '--samples', '200',
                          '--threads', '1', '--no-progress'], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        partial = tmp_path / 'gradeval.json.partial'
        t = time.time()
        while not partial.exists() and a.poll() is None and time.time() - t < 120: time.sleep(0.05)
        assert partial.exists(), a.communicate()
        before = partial.read_bytes()
        for more in ([], ['--resume']):   # a fresh run and a resumed one alike
            b = subprocess.run([GRADEVAL, *FAST, *more], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            _refused(b.returncode, b.stderr, a.pid)
            assert partial.read_bytes() == before and not (tmp_path / 'gradeval.json').exists()
        assert json.loads((tmp_path / '.gradeval.json.lock').read_text())['pid'] == a.pid
        (tmp_path / 'go').touch()
        out, err = a.communicate(timeout=300)
    finally:
        if a.poll() is None: a.kill(); a.wait()
    assert a.returncode == 0, err
    assert list(json.loads((tmp_path / 'gradeval.json').read_text())['estimators']) == ['exact', 'wait_st']   # A's report
    assert not partial.exists() and not (tmp_path / '.gradeval.json.lock').exists()


def test_a_live_lock_is_refused_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lock = tmp_path / '.gradeval.json.lock'
    held = json.dumps(dict(pid=os.getpid(), host=socket.gethostname(), started='2026-01-01 00:00:00'))
    lock.write_text(held)
    (tmp_path / 'gradeval.json.partial').write_text('a live run writes this')
    for more in ([], ['--resume']):
        code, out, err = _call(FAST + more, capsys)
        _refused(code, err, os.getpid())
        assert 'since 2026-01-01 00:00:00' in err
    assert (tmp_path / 'gradeval.json.partial').read_text() == 'a live run writes this' and lock.read_text() == held
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.gradeval.json.lock', 'gradeval.json.partial']
    code, out, err = _call(FAST + ['--json', 'other.json', '--plot', 'other.png'], capsys)   # another report: not locked
    assert code == 0, err
    assert not (tmp_path / '.other.json.lock').exists()


def test_a_dead_runs_lock_is_taken_over_and_every_run_removes_its_lock(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()   # a process id that no longer runs
    lock = tmp_path / '.gradeval.json.lock'
    lock.write_text(json.dumps(dict(pid=p.pid, host=socket.gethostname(), started='x')))
    code, out, err = _call(FAST, capsys)
    assert code == 0, err
    assert f'note: taking over .gradeval.json.lock left by process {p.pid}' in err and 'which no longer runs' in err, err
    assert sorted(q.name for q in tmp_path.iterdir()) == ['gradeval.json', 'gradeval.png']
    code, out, err = _call(FAST + ['--resume'], capsys)   # a run that fails releases the lock too
    assert code == 2 and 'nothing to resume' in err, err
    assert not lock.exists()


def _unreadable(monkeypatch, name='test_batch'):
    "Opening a file called `name` raises PermissionError as a chmod 000 file does (root ignores the mode bits)."
    real = io.open
    def fake(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).name == name: raise PermissionError(13, 'Permission denied', str(file))
        return real(file, *args, **kwargs)
    monkeypatch.setattr(io, 'open', fake)
    monkeypatch.setattr(builtins, 'open', fake)


def test_an_unreadable_cifar_batch_raises_its_permission_error(tmp_path, monkeypatch):
    folder = write_fake_cifar10(tmp_path, n_per_batch=4)
    _unreadable(monkeypatch)
    with pytest.raises(PermissionError, match=r"Permission denied: '.*test_batch'") as e: read_cifar10(tmp_path, train=False)
    assert 'not a CIFAR-10 batch' not in str(e.value)
    calls = []
    fake_tv = types.SimpleNamespace(datasets=types.SimpleNamespace(CIFAR10=lambda *a, **k: calls.append(a)))
    monkeypatch.setitem(sys.modules, 'torchvision', fake_tv)
    with pytest.raises(PermissionError, match='test_batch'): cifar10_data(tmp_path, val=0.25, download=True)
    assert calls == []   # no download over a file that is only unreadable
    monkeypatch.undo()
    assert read_cifar10(tmp_path, train=False)[0].shape == (4, 3, 32, 32)


@pytest.mark.skipif(os.name != 'posix', reason="POSIX file modes")
def test_a_chmod_000_cifar_batch_with_real_permissions(tmp_path):
    "The reviewer's case, with the permission enforced (as root: capsh drops the capabilities that bypass it)."
    folder = write_fake_cifar10(tmp_path, n_per_batch=4)
    (folder / 'test_batch').chmod(0)
    code = ("import sys\nfrom sbn_estimators.data import read_cifar10\n"
            "try: read_cifar10(sys.argv[1], train=False)\nexcept Exception as e: print(type(e).__name__, e)\n")
    cmd = [sys.executable, '-c', code, str(tmp_path)]
    if os.geteuid() == 0:
        if not shutil.which('capsh'): pytest.skip("root without capsh: the mode bits are not enforced")
        drop = ['capsh', '--drop=cap_dac_override,cap_dac_read_search,cap_fowner', '--', '-c']
        if subprocess.run([*drop, 'true'], capture_output=True).returncode: pytest.skip("capsh cannot drop capabilities here (no CAP_SETPCAP)")
        cmd = [*drop, shlex.join(cmd)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith('PermissionError [Errno 13] Permission denied: ') and 'test_batch' in r.stdout, (r.stdout, r.stderr)
