"`RunFolder`: a lock a second run cannot get past, stale locks taken over once, nothing left by a run that never checkpointed."
import json, os, signal, socket, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
import torch
from sbn_estimators.cli import RunFolder, RunFolderLocked, torch_save, save_json

posix_only = pytest.mark.skipif(os.name != 'posix', reason="POSIX signals and process ids")

# Child processes: each enters a RunFolder as a run of sbn-train would.
CHILD = textwrap.dedent("""
    import argparse, sys, time
    from pathlib import Path
    from sbn_estimators.cli import *

    mode, path = sys.argv[1], Path(sys.argv[2])
    here = Path(sys.argv[3]) if len(sys.argv) > 3 else None

    def wait_for(name):
        while not (here / name).exists(): time.sleep(0.001)

    if mode == 'hold':          # lock the folder until stdin closes
        with RunFolder(path):
            print('locked', flush=True)
            sys.stdin.read()
    elif mode == 'race':        # all children try at once (a file is the starting gun); the winner holds until 'done'
        (here / f'ready.{sys.argv[4]}').write_text('')
        wait_for('go')
        try:
            with RunFolder(path):
                print('WIN', flush=True)
                wait_for('done')
        except RunFolderLocked as e: print('LOCKED', e, flush=True)
    elif mode in ('train', 'early'):   # a training loop under run_cli, stopped by a signal
        def main(args):
            with RunFolder(path) as f:
                save_json(f.path / 'config.json', {'epochs': 10 ** 6})
                if mode == 'early':
                    print('ready', flush=True)
                    time.sleep(60)
                for epoch in range(10 ** 6):
                    torch_save(f.path / 'last.pt', {'epoch': epoch, 'weights': torch.full((250_000,), float(epoch))})
                    if epoch == 2: print('ready', flush=True)
        import torch
        run_cli(argparse.ArgumentParser(prog='child'), main, [], resume_hint=lambda a: f'child --resume {path}')
    elif mode == 'mid-write':   # killed (kill -9) while its second checkpoint is being written
        import torch
        with RunFolder(path) as f:
            torch_save(f.path / 'last.pt', {'epoch': 1})
            with atomic_path(f.path / 'last.pt') as tmp:
                torch.save({'epoch': 2, 'weights': torch.zeros(250_000)}, tmp)
                print('writing', tmp.name, flush=True)
                time.sleep(60)
""")


@pytest.fixture
def child(tmp_path):
    (tmp_path / 'child.py').write_text(CHILD)
    def start(*args, **kw):
        return subprocess.Popen([sys.executable, str(tmp_path / 'child.py'), *map(str, args)], cwd=tmp_path, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    return start


def finish(p, timeout=60):
    try: return p.communicate(timeout=timeout)
    finally:
        if p.poll() is None: p.kill()


def test_second_run_is_refused_while_the_first_holds_the_folder(tmp_path, child):
    run = tmp_path / 'run'
    p = child('hold', run)
    try:
        assert p.stdout.readline() == 'locked\n'
        info = json.loads((run / '.lock').read_text())
        assert info['pid'] == p.pid and info['host'] == socket.gethostname()
        with pytest.raises(RunFolderLocked, match=f"{run} is in use by process {p.pid} on {socket.gethostname()} since "):
            RunFolder(run).__enter__()
        assert (run / '.lock').exists()   # the refused run removed nothing
    finally: finish(p)
    assert p.returncode == 0 and list(run.iterdir()) == []   # lock released
    with RunFolder(run) as f: (f.path / 'log.txt').write_text('second run')   # now it is free


def dead_pid(child) -> int:
    "The id of a process that has ended (ids are not reused this quickly)."
    p = subprocess.Popen([sys.executable, '-c', 'pass'])
    p.wait()
    return p.pid


@posix_only
def test_lock_of_a_killed_run_is_taken_over(tmp_path, child, capsys):
    run = tmp_path / 'run'
    p = child('hold', run)
    assert p.stdout.readline() == 'locked\n'
    p.kill(); finish(p)   # kill -9: no clean-up ran, the lock file stays
    assert json.loads((run / '.lock').read_text())['pid'] == p.pid
    with RunFolder(run) as f:
        assert json.loads(f.lock.read_text())['pid'] == os.getpid()
        torch_save(f.path / 'last.pt', {'epoch': 1})
    assert capsys.readouterr().err.startswith(f"note: taking over {run / '.lock'} left by process {p.pid}")
    assert sorted(q.name for q in run.iterdir()) == ['last.pt']



@posix_only
def test_a_checkpoint_half_written_by_a_killed_run_is_removed_on_resume(tmp_path, child, capsys):
    run = tmp_path / 'run'
    p = child('mid-write', run)
    line = p.stdout.readline()
    p.kill(); finish(p)   # kill -9 mid-write: no clean-up ran
    tmp = run / f'.last.pt.{p.pid}.tmp'
    assert line == f'writing {tmp.name}\n' and tmp.stat().st_size > 10 ** 6, line   # the full-size temporary file stays
    live = run / f'.metrics.csv.{os.getpid()}.tmp'; live.write_text('being written by a live process')
    other = run / '.notes.tmp'; other.write_text('not an atomic_path temporary')
    with RunFolder(run, resume=True):
        assert sorted(q.name for q in run.iterdir()) == sorted(['.lock', 'last.pt', live.name, other.name])
    assert torch.load(run / 'last.pt')['epoch'] == 1
    assert f"note: removed {tmp}, left half-written by a process that no longer runs" in capsys.readouterr().err


def write_lock(folder, **info):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / '.lock').write_text(json.dumps(info) if info else '')


def test_locks_that_cannot_be_judged_are_never_taken_over(tmp_path, child):
    write_lock(tmp_path / 'a', pid=dead_pid(child), host='another-host', started='x')   # a dead id means nothing there
    with pytest.raises(RunFolderLocked, match="in use by process .* on another-host since x .*delete the lock file"):
        RunFolder(tmp_path / 'a').__enter__()
    write_lock(tmp_path / 'b')   # empty: being written, its run holding the flock (one whose flock is free is stale: test_review_s60_U)
    fd = os.open(tmp_path / 'b' / '.lock', os.O_RDWR)
    try:
        if os.name == 'posix': import fcntl; fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderLocked, match="in use by another process"): RunFolder(tmp_path / 'b').__enter__()
    finally: os.close(fd)
    write_lock(tmp_path / 'c', pid=os.getpid(), host=socket.gethostname(), started='x')   # alive
    with pytest.raises(RunFolderLocked, match=f"process {os.getpid()}"): RunFolder(tmp_path / 'c', resume=False).__enter__()
    for name in 'abc': assert [q.name for q in (tmp_path / name).iterdir()] == ['.lock']


def race(tmp_path, child, run, n=4):
    "Start `n` children that enter `run` at the same moment; returns their first output lines."
    ps = [child('race', run, tmp_path, i) for i in range(n)]
    try:
        deadline = time.time() + 120
        while not all((tmp_path / f'ready.{i}').exists() for i in range(n)):
            assert time.time() < deadline and all(p.poll() is None for p in ps), [finish(p) for p in ps if p.poll() is not None]
            time.sleep(0.01)
        (tmp_path / 'go').write_text('')
        lines = [p.stdout.readline().strip() for p in ps]
        (tmp_path / 'done').write_text('')
        for p in ps: finish(p)
    finally:
        for p in ps:
            if p.poll() is None: p.kill()
    assert all(p.returncode == 0 for p in ps)
    return lines


def test_simultaneous_runs_on_a_new_folder_one_wins(tmp_path, child):
    lines = race(tmp_path, child, tmp_path / 'runs' / 'new')
    assert sorted(l.split()[0] for l in lines) == ['LOCKED'] * 3 + ['WIN'], lines
    # a loser names the winner, or, when it reads the lock between its creation and the winner writing into it,
    # "another process": both say the folder is in use and where the lock file is
    assert all(('is in use by process' in l or 'is in use by another process' in l) and '.lock' in l
               for l in lines if l.startswith('LOCKED')), lines


@posix_only
def test_simultaneous_take_overs_of_a_stale_lock_one_wins(tmp_path, child):
    run = tmp_path / 'run'
    write_lock(run, pid=dead_pid(child), host=socket.gethostname(), started='x')
    lines = race(tmp_path, child, run)
    assert sorted(l.split()[0] for l in lines) == ['LOCKED'] * 3 + ['WIN'], lines


@posix_only
def test_sigterm_keeps_the_last_checkpoint_intact(tmp_path, child):
    run = tmp_path / 'run'
    p = child('train', run)
    try: assert p.stdout.readline() == 'ready\n'   # three checkpoints written, more being written
    except BaseException: finish(p); raise
    p.send_signal(signal.SIGTERM)
    out, err = finish(p)
    assert p.returncode == 143 and err == f"child: terminated (SIGTERM); continue with: child --resume {run}\n", err
    assert sorted(q.name for q in run.iterdir()) == ['config.json', 'last.pt']   # no lock, no half-written temporary file
    ck = torch.load(run / 'last.pt')
    assert ck['epoch'] >= 2 and torch.equal(ck['weights'], torch.full((250_000,), float(ck['epoch'])))
    assert RunFolder(run).resumable


@posix_only
@pytest.mark.parametrize('sig, status', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupt_before_the_first_checkpoint_leaves_nothing(tmp_path, child, sig, status):
    run = tmp_path / 'runs' / 'a'
    p = child('early', run, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try: assert p.stdout.readline() == 'ready\n' and (run / 'config.json').exists()
    except BaseException: finish(p); raise
    p.send_signal(sig)
    finish(p)
    assert p.returncode == status
    assert not (tmp_path / 'runs').exists()


def test_nothing_is_created_before_validation_or_for_a_refused_run(tmp_path):
    folder = RunFolder(tmp_path / 'runs' / 'a')
    assert not (tmp_path / 'runs').exists() and not folder.resumable
    with pytest.raises(ValueError, match="nothing to resume in .*a: no last.pt"): RunFolder(tmp_path / 'runs' / 'a', resume=True).__enter__()
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match="file is an existing file, not a folder"): RunFolder(tmp_path / 'file').__enter__()
    with pytest.raises(ValueError, match="is not a folder"): RunFolder(tmp_path / 'file' / 'a').__enter__()
    assert sorted(q.name for q in tmp_path.iterdir()) == ['file']


def test_a_new_run_needs_a_new_or_empty_folder(tmp_path):
    (tmp_path / 'used').mkdir(); (tmp_path / 'used' / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match="used is not empty \\(notes.txt\\) and holds no run to resume"): RunFolder(tmp_path / 'used').__enter__()
    assert [q.name for q in (tmp_path / 'used').iterdir()] == ['notes.txt']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(tmp_path / 'empty') as f:
            save_json(f.path / 'config.json', {}); (f.path / 'sub').mkdir(); (f.path / 'sub' / 'x').write_text('')
            raise KeyboardInterrupt
    assert (tmp_path / 'empty').is_dir() and list((tmp_path / 'empty').iterdir()) == []   # emptied; the user's folder stays
    with RunFolder(tmp_path / 'empty') as f: torch_save(f.path / 'last.pt', {'epoch': 1})
    with pytest.raises(ValueError, match="already holds a run \\(last.pt\\); pass --resume"): RunFolder(tmp_path / 'empty').__enter__()


def test_a_failed_resume_deletes_nothing(tmp_path):
    run = tmp_path / 'run'
    with RunFolder(run) as f: torch_save(f.path / 'last.pt', {'epoch': 1}); save_json(f.path / 'config.json', {})
    with pytest.raises(RuntimeError):
        with RunFolder(run, resume=True) as f:
            (f.path / 'metrics.csv').write_text('epoch\n1\n')
            raise RuntimeError
    assert sorted(q.name for q in run.iterdir()) == ['config.json', 'last.pt', 'metrics.csv']


def test_an_empty_checkpoint_is_not_resumable(tmp_path):
    run = tmp_path / 'run'; run.mkdir(); (run / 'last.pt').write_bytes(b'')
    assert not RunFolder(run).resumable


def test_release_leaves_a_lock_that_is_no_longer_its_own(tmp_path):
    "A run whose lock was deleted by hand and taken by another run leaves that run's lock in place when it ends."
    run = tmp_path / 'r'
    with RunFolder(run) as rf:
        rf.lock.unlink()
        other = dict(pid=1, host='elsewhere', started='x')
        rf.lock.write_text(json.dumps(other))
    assert json.loads((run / '.lock').read_text()) == other


@posix_only
def test_a_taken_over_lock_holds_only_the_new_owner(tmp_path):
    "A stale lock longer than the new owner's record is rewritten whole: it parses as the new owner and is removed at the end."
    import json, os, socket, subprocess, sys
    from sbn_estimators.cli import RunFolder
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()   # a process id that no longer runs
    run = tmp_path / 'run'; run.mkdir()
    (run / '.lock').write_text(json.dumps(dict(pid=p.pid, host=socket.gethostname(), started='2000-01-01 00:00:00', note='x' * 200)))
    with RunFolder(run) as f:
        assert json.loads(f.lock.read_text())['pid'] == os.getpid()
    assert not (run / '.lock').exists()


@posix_only
def test_a_failed_run_removes_a_symlink_not_what_it_points_to(tmp_path):
    import pytest
    from sbn_estimators.cli import RunFolder
    data = tmp_path / 'data'; data.mkdir(); (data / 'keep.txt').write_text('x')
    run = tmp_path / 'run'
    with pytest.raises(RuntimeError, match='boom'):
        with RunFolder(run) as f:
            (f.path / 'data').symlink_to(data, target_is_directory=True)
            raise RuntimeError('boom')
    assert not run.exists() and (data / 'keep.txt').read_text() == 'x'


def test_a_folder_left_by_a_run_killed_before_its_checkpoint_starts_afresh(tmp_path, capsys):
    "kill -9 in the first epoch leaves config.json and references.bib: a new run takes the folder, with a note; other files still block it."
    run = tmp_path / 'r'; run.mkdir()
    (run / 'config.json').write_text('{}'); (run / 'references.bib').write_text('')
    with pytest.raises(ValueError, match='is not empty'): RunFolder(run).__enter__()
    with RunFolder(run, preliminary=('config.json', 'references.bib')) as f: save_json(f.path / 'config.json', {'epochs': 1})
    assert 'holds only config.json, references.bib of a run stopped before it could be resumed (no last.pt); starting afresh' in capsys.readouterr().err
    (run / 'notes.txt').write_text('mine')
    with pytest.raises(ValueError, match=r'is not empty \(config.json, notes.txt, references.bib\)'): RunFolder(run, preliminary=('config.json', 'references.bib')).__enter__()
