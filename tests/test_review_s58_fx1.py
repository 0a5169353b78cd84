"Review s58 (fx1): the run folder's lock on Windows and on a full disk, non-UTF-8 output streams, a closed stdout, config files in UTF-8 with BOM or UTF-16."
import json, os, socket, subprocess, sys, textwrap
from pathlib import Path
import pytest
from conftest import ROOT
from sbn_estimators import cli
from sbn_estimators.cli import RunFolder, save_json, torch_save

proc_fds = pytest.mark.skipif(not os.path.isdir('/proc/self/fd'), reason="needs /proc/self/fd (Linux)")


def _open_paths() -> set:
    "The files this process holds open."
    out = set()
    for fd in os.listdir('/proc/self/fd'):
        try: out.add(os.readlink(f'/proc/self/fd/{fd}'))
        except OSError: pass
    return out


def _unlink_as_windows(monkeypatch):
    "`Path.unlink` refusing a file this process holds open, as Windows does (WinError 32)."
    real = Path.unlink
    def unlink(self, *a, **kw):
        if str(Path(self).resolve()) in _open_paths():
            raise PermissionError(13, 'The process cannot access the file because it is being used by another process', str(self))
        return real(self, *a, **kw)
    monkeypatch.setattr(Path, 'unlink', unlink)


def _run(args, cwd, encoding='utf-8', **env):
    e = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, encoding=encoding, timeout=300, env=e)


# 1. the lock's file is closed before it is deleted

@proc_fds
def test_a_run_folder_releases_its_lock_where_an_open_file_cannot_be_deleted(tmp_path, monkeypatch):
    _unlink_as_windows(monkeypatch)
    run = tmp_path / 'run'
    with RunFolder(run) as f:   # was: PermissionError from the unlink of the still open .lock, and the lock left behind
        save_json(f.path / 'config.json', {}); torch_save(f.path / 'last.pt', {'epoch': 1})
    assert sorted(q.name for q in run.iterdir()) == ['config.json', 'last.pt']
    with pytest.raises(KeyboardInterrupt):   # a new run interrupted before its checkpoint: nothing left, no note
        with RunFolder(tmp_path / 'second') as f:
            save_json(f.path / 'config.json', {}); raise KeyboardInterrupt
    assert not (tmp_path / 'second').exists()


@proc_fds
def test_a_report_lock_is_released_where_an_open_file_cannot_be_deleted(tmp_path, monkeypatch):
    from sbn_estimators.gradeval import _ReportLock
    _unlink_as_windows(monkeypatch)
    with _ReportLock(tmp_path / 'g.json') as lock: assert lock.lock.is_file()
    assert list(tmp_path.iterdir()) == []


# 2. a lock whose record cannot be written (a full disk) is removed, and the error names it

@pytest.mark.skipif(not hasattr(__import__('signal'), 'SIGXFSZ') or not os.path.isdir('/proc/self/fd'), reason="needs RLIMIT_FSIZE, SIGXFSZ and /proc")
def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path):
    script = textwrap.dedent('''
        import argparse, os, resource, signal
        from sbn_estimators.cli import RunFolder, run_cli
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit: EFBIG, as a full disk's ENOSPC
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        fds = len(os.listdir('/proc/self/fd'))
        try:
            with RunFolder('runs/a'): pass
        except OSError as e: print(type(e).__name__, e.errno, e)
        print(os.path.exists('runs/a'), len(os.listdir('/proc/self/fd')) - fds)
        def main(args):
            with RunFolder('runs/b'): pass
        run_cli(argparse.ArgumentParser(prog='toy'), main, [])''')
    p = _run(['-c', script], tmp_path)
    lines = p.stdout.splitlines()
    assert lines == ["OSError 27 could not write the lock file runs/a/.lock: File too large", "False 0"], (p.stdout, p.stderr[-2000:])
    assert (p.returncode, p.stderr) == (1, "toy: error: could not write the lock file runs/b/.lock: File too large\n"), p.stderr[-2000:]
    assert not (tmp_path / 'runs' / 'b').exists()   # was: an empty .lock in each folder, refusing every later run


# 3. a stale lock taken over and released by another run between our open and our flock: try again

@proc_fds
def test_a_stale_lock_released_during_the_take_over_is_retried(tmp_path, monkeypatch):
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()   # a process id that no longer runs
    run = tmp_path / 'run'; run.mkdir()
    (run / '.lock').write_text(json.dumps(dict(pid=p.pid, host=socket.gethostname(), started='2000-01-01 00:00:00')))
    real, calls = cli._flock, []
    def flock(fd):
        calls.append(fd)
        if len(calls) == 1: (run / '.lock').unlink()   # another run took it over and ended just before our flock
        return real(fd)
    monkeypatch.setattr(cli, '_flock', flock)
    fds = len(_open_paths())
    with RunFolder(run) as f:   # was: FileNotFoundError from os.stat, and the descriptor leaked
        assert json.loads(f.lock.read_text())['pid'] == os.getpid()
    assert len(calls) == 2 and not (run / '.lock').exists()
    assert len(_open_paths()) == fds


# 4. an output stream that is not UTF-8: characters it lacks are escaped, not an error

@pytest.mark.parametrize('encoding, command, option', [('ascii', 'train', '--help'), ('ascii', 'train', '--list'),
                                                       ('cp1252', 'gradeval', '--list')])
def test_commands_print_to_a_stream_that_is_not_utf8(tmp_path, encoding, command, option):
    p = _run(['-c', f'from sbn_estimators.{command} import {command}_cli; {command}_cli()', option], tmp_path,
             encoding=encoding, PYTHONIOENCODING=encoding)
    assert (p.returncode, p.stderr) == (0, ''), p.stderr[-2000:]   # was: a UnicodeEncodeError traceback (--help), exit 2 (--list)
    assert '\\u' in p.stdout or '\\x' in p.stdout, p.stdout[-500:]


# 5. a reader that leaves: one line says the output was cut short, exit 1 as documented

TOY = textwrap.dedent('''
    import argparse
    from sbn_estimators.cli import run_cli
    def main(args):
        for i in range(200000): print(f'line {i}')   # 1.3 MB: more than a pipe holds
    run_cli(argparse.ArgumentParser(prog='toy'), main, [])''')


def test_a_closed_stdout_is_said_on_stderr(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([sys.executable, '-c', TOY], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    p.stdout.close()
    err = p.stderr.read(); p.wait(timeout=120)
    assert (p.returncode, err) == (1, "toy: stdout was closed before all output was written\n")   # was: exit 1, nothing said
    assert 'stdout closed before all output was written' in cli.EXIT_STATUSES and '1 the work' in cli.EXIT_STATUSES


def test_a_closed_stdout_and_stderr_still_exit_1(tmp_path):
    "`2>&1 | head`: the note cannot be written either; no traceback, no other exit status."
    r, w = os.pipe()
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([sys.executable, '-c', TOY], cwd=tmp_path, stdout=w, stderr=w, env=env)
    os.close(w); os.read(r, 100); os.close(r)
    assert p.wait(timeout=120) == 1


# 6. config files saved by Windows' editors

@pytest.mark.parametrize('encoding', ['utf-8-sig', 'utf-16', 'utf-16-le', 'utf-32'])
def test_load_config_reads_a_bom_and_utf16(tmp_path, encoding):
    import dataclasses
    @dataclasses.dataclass
    class C:
        epochs: int = 1
        data_dir: str = ''
    path = tmp_path / 'c.json'
    path.write_text('{"epochs": 3, "data_dir": "/tmp/d\u00e4t\u00e4"}', encoding=encoding)   # Notepad's UTF-8 with BOM; PowerShell 5.1's `>`
    assert cli.load_config(path, C) == dict(epochs=3, data_dir='/tmp/dätä')   # was: not valid JSON / cannot read
    path.write_bytes(b'{"epochs": 3,}')
    with pytest.raises(ValueError, match='is not valid JSON'): cli.load_config(path, C)
    path.write_bytes(b'{"data_dir": "\xff"}')
    with pytest.raises(ValueError, match='cannot read config file'): cli.load_config(path, C)
