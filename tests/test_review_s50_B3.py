"Review s50, fixes B3 and B4: sbn-gradeval removes the temporaries a killed run left of its own --json, partial report and --plot (and no others); and it locks its --plot too, so that two runs writing one figure are refused."
import json, os, socket, subprocess, sys
import pytest
from sbn_estimators.gradeval import gradeval_cli

FAST = ['--epochs', '0', '--estimators', 'exact,st', '--samples', '100', '--threads', '1', '--no-progress']


def _call(args, capsys):
    try: gradeval_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()
    return p.pid


def test_stale_temporaries_of_this_runs_files_are_removed_and_no_others(tmp_path, monkeypatch, capsys):
    "What kill -9 left mid-write of g.json, g.json.partial and g.png goes (a --resume run too); another report's and a live process's stay."
    monkeypatch.chdir(tmp_path)
    pid = _dead_pid()
    ours = [tmp_path / f'.g.json.{pid}.tmp', tmp_path / f'.g.json.partial.{pid}.tmp', tmp_path / f'.g.png.{pid}.tmp']
    others = [tmp_path / f'.h.json.{pid}.tmp', tmp_path / f'.g.json.{os.getppid()}.tmp', tmp_path / f'.g.pngx.{pid}.tmp']
    for q in ours + others: q.write_text('half')
    code, out, err = _call([*FAST, '--json', 'g.json', '--plot', 'g.png'], capsys)
    assert code == 0, err
    assert not any(q.exists() for q in ours) and all(q.exists() for q in others)
    notes = [l for l in err.splitlines() if l.startswith('note: removed ')]
    assert len(notes) == 2, err   # one per lock: the report's (with its partial report), the plot's
    assert notes[0] == f"note: removed {ours[0].name}, {ours[1].name}, left half-written by a process that no longer runs"
    assert notes[1] == f"note: removed {ours[2].name}, left half-written by a process that no longer runs"
    (tmp_path / 'g.json').rename(tmp_path / 'g.json.partial')   # a --resume run cleans up too
    for q in ours: q.write_text('half')
    code, out, err = _call([*FAST, '--json', 'g.json', '--plot', 'g.png', '--resume'], capsys)
    assert code == 0, err
    assert not any(q.exists() for q in ours) and all(q.exists() for q in others)


def test_a_run_writing_the_plot_another_run_writes_is_refused(tmp_path, monkeypatch, capsys):
    "Another --json, the same --plot: one line naming the live run that holds the plot, exit 2, nothing written."
    monkeypatch.chdir(tmp_path)
    (tmp_path / '.g.png.lock').write_text(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(), started='then')))
    code, out, err = _call([*FAST, '--json', 'h.json', '--plot', 'g.png'], capsys)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('sbn-gradeval: error: g.png is in use by process ') and '(lock file .g.png.lock)' in lines[0], err
    assert sorted(q.name for q in tmp_path.iterdir()) == ['.g.png.lock']   # nor the report's lock left
