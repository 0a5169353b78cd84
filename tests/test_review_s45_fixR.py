"Review s45, fix R: sbn-train's resumption (a damaged best.pt found before the training, a hand-edited config.json and changed epochs named as such, a folder killed between the first best.pt and last.pt starts afresh, consistently), sbn-bench's case process dies with its parent, train_cli's exit statuses."
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from sbn_estimators.train import TrainConfig, train, load_checkpoint, train_cli
from conftest import sbn_train

torch.set_num_threads(1)
cli = sbn_train
TINY = ['--model', 'sbn_mlp:width=16', '--eval-samples', '1', '--quiet', '--threads', '1']
CFG = dict(model='sbn_mlp:width=16', eval_samples=1)

class Stop(Exception): pass

def stop_after(epoch):
    "A callback that stops the run after `epoch`'s checkpoint, as an interrupt there does."
    def cb(e, row):
        if e == epoch: raise Stop
    return [cb]

def damage(path: Path):
    data = path.read_bytes(); path.write_bytes(data[:len(data) // 2])

def result(out: Path) -> dict:
    r = json.loads((out / 'result.json').read_text()); r.pop('seconds_per_epoch'); r.pop('environment'); return r

# 1. a damaged best.pt: found when resuming, before any training, with the epoch it held and the way on
def test_damaged_best_pt_is_found_before_the_training(tmp_path):
    cfg = TrainConfig(epochs=3, **CFG)
    with pytest.raises(Stop): train(cfg, tmp_path / 'r', callbacks=stop_after(1), progress=False)
    assert load_checkpoint(tmp_path / 'r' / 'best.pt')['epoch'] == 1   # the first epoch is always the best so far
    damage(tmp_path / 'r' / 'best.pt')
    for _ in range(2):   # every resumption says so at once, not after the remaining epochs
        with pytest.raises(ValueError, match=r"r/best.pt is corrupted or not a checkpoint .*; it held epoch 1, the epoch .*r/last.pt holds: copy last.pt over it and resume"):
            train(cfg, tmp_path / 'r', resume=True, progress=False)
        assert load_checkpoint(tmp_path / 'r' / 'last.pt')['epoch'] == 1 and not (tmp_path / 'r' / 'result.json').exists()
    shutil.copy(tmp_path / 'r' / 'last.pt', tmp_path / 'r' / 'best.pt')   # as the message says: the run ends as one never interrupted
    train(cfg, tmp_path / 'r', resume=True, progress=False)
    train(cfg, tmp_path / 'u', progress=False)
    assert result(tmp_path / 'r') == result(tmp_path / 'u')
    assert load_checkpoint(tmp_path / 'r' / 'best.pt')['epoch'] == result(tmp_path / 'u')['best_epoch']

def test_damaged_best_pt_advice_names_its_epoch(tmp_path):
    from sbn_estimators.train import _damaged_best
    msg = _damaged_best({'epoch': 5, 'best_epoch': 2}, tmp_path)
    assert msg.startswith('it held epoch 2: delete it and resume') and 'start the run afresh with another --out' in msg
    assert _damaged_best({'epoch': 5}, tmp_path).startswith('it held the best epoch so far: delete it')   # a checkpoint of an earlier version

def test_damaged_best_pt_at_the_final_test_via_the_cli(tmp_path, capsys):
    "The reviewer's case: stopped at the final test (every epoch done), best.pt damaged: one line, exit 2, the way on; it works."
    out = tmp_path / 'r'
    with pytest.raises(Stop): train(TrainConfig(epochs=2, val=0, **CFG), out, callbacks=stop_after(2), progress=False)   # val 0: best.pt is the last epoch
    damage(out / 'best.pt')
    code, _, err = cli(capsys, '--resume', '--out', str(out), '--quiet', '--threads', '1')
    assert code == 2 and err.count('\n') == 1 and 'best.pt is corrupted or not a checkpoint' in err, err
    assert f'it held epoch 2, the epoch {out}/last.pt holds: copy last.pt over it and resume' in err, err
    assert not (out / 'result.json').exists()
    (out / 'best.pt').unlink()   # the other way on: without best.pt the run ends, and result.json says it keeps none
    code, _, err = cli(capsys, '--resume', '--out', str(out), '--quiet', '--threads', '1')
    assert code == 0, err
    assert json.loads((out / 'result.json').read_text())['best_epoch'] is None

# 2. config.json edited by hand, and --epochs on --resume: said plainly
def test_edited_config_json_is_named(tmp_path, capsys):
    out = tmp_path / 'e'
    assert cli(capsys, '--epochs', '2', '--out', str(out), *TINY)[0] == 0
    d = json.loads((out / 'config.json').read_text()); d['epochs'] = 3
    (out / 'config.json').write_text(json.dumps(d))
    code, _, err = cli(capsys, '--resume', '--out', str(out), '--quiet')
    assert code == 2 and err.count('\n') == 1 and 'belongs to another run' not in err, err
    assert f"{out}/config.json was edited after the run started: it differs from both of the run's checkpoints, last.pt and best.pt, " \
           f"which agree (epochs: checkpoints 2, config.json 3); to resume, put back \"epochs\": 2 in {out}/config.json" in err, err
    assert "a run's epochs cannot be changed when it resumes (extending a run is not supported" in err, err
    d['epochs'] = 2; (out / 'config.json').write_text(json.dumps(d))   # put back: it resumes (a finished run: the test again)
    assert cli(capsys, '--resume', '--out', str(out), '--quiet')[0] == 0

def test_more_epochs_on_resume_is_refused_plainly(tmp_path, capsys):
    out = tmp_path / 'e'
    assert cli(capsys, '--epochs', '2', '--out', str(out), *TINY)[0] == 0
    code, _, err = cli(capsys, '--resume', '--out', str(out), '--epochs', '300', '--quiet')
    assert code == 2 and err.count('\n') == 1 and 'epochs: saved 2, given 300' in err, err
    assert "a run's epochs cannot be changed when it resumes (extending a run is not supported: its learning-rate schedule spans the 2 epochs " \
           "it was started with): train a new run of 300 epochs with another --out" in err, err

# 3. kill -9 between the first best.pt and the first last.pt: the folder starts afresh; --resume says so too
KILL_AT_LAST = '''
import os, signal, sys
import sbn_estimators.train as T
save = T.save_checkpoint
def killing(path, **state):
    if os.path.basename(str(path)) == 'last.pt': os.kill(os.getpid(), signal.SIGKILL)
    save(path, **state)
T.save_checkpoint = killing
sys.argv[0] = 'sbn-train'
T.train_cli(sys.argv[1:])
'''

def killed_before_last_pt(out, *args):
    p = subprocess.run([sys.executable, '-c', KILL_AT_LAST, '--out', str(out), *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert sorted(q.name for q in out.iterdir() if q.name != '.lock') == ['best.pt', 'config.json', 'references.bib']

def test_folder_killed_before_its_first_last_pt_starts_afresh(tmp_path, capsys):
    args = ['--epochs', '2', *TINY]
    killed_before_last_pt(tmp_path / 'k', *args)
    code, _, err = cli(capsys, '--resume', '--out', str(tmp_path / 'k'), '--quiet')
    assert code == 2 and err.count('\n') == 1, err
    assert f"start the run afresh in {tmp_path / 'k'}: run it without --resume (it holds only best.pt, config.json, references.bib" in err, err
    code, _, err = cli(capsys, '--out', str(tmp_path / 'k'), *args)   # as that says: the run starts afresh, and ends as one never stopped
    assert code == 0 and 'starting afresh' in err, err
    assert cli(capsys, '--out', str(tmp_path / 'u'), *args)[0] == 0
    assert result(tmp_path / 'k') == result(tmp_path / 'u')

def test_fresh_run_replaces_the_first_epochs_best_pt(tmp_path, capsys, monkeypatch):
    "The killed run's best.pt goes when a new run starts there: one whose validation loss is never finite writes none, and result.json says so."
    killed_before_last_pt(tmp_path / 'k', '--epochs', '2', '--seed', '1', *TINY)
    import sbn_estimators.train as T
    ev = T.evaluate
    monkeypatch.setattr(T, 'evaluate', lambda model, data, split='test', *a, **k: dict(ev(model, data, split, *a, **k), **({'loss': float('nan')} if split == 'val' else {})))
    train(TrainConfig(epochs=1, **CFG), tmp_path / 'k', progress=False)
    assert not (tmp_path / 'k' / 'best.pt').exists(), "the killed run's best.pt was kept"
    assert json.loads((tmp_path / 'k' / 'result.json').read_text())['best_epoch'] is None

def test_run_comparison_goes_on_over_such_a_folder(tmp_path):
    from sbn_estimators.lr_search import run_comparison
    base = TrainConfig(epochs=1, **CFG)
    rows = run_comparison(base, {'st': {'estimator': 'st'}}, tmp_path / 'c', seeds=(0,), grid=(1e-2,), log=None)   # the search, and the run
    shutil.rmtree(tmp_path / 'c' / 'st' / 'seed0')
    (tmp_path / 'cfg.json').write_text(json.dumps(rows[0]['config']))   # the run's own configuration, killed between its best.pt and last.pt
    killed_before_last_pt(tmp_path / 'c' / 'st' / 'seed0', '--config', str(tmp_path / 'cfg.json'), '--quiet', '--threads', '1')
    again = run_comparison(base, {'st': {'estimator': 'st'}}, tmp_path / 'c', seeds=(0,), grid=(1e-2,), log=None)
    assert again[0]['test_acc'] == rows[0]['test_acc']

def test_a_later_best_pt_is_not_started_over(tmp_path, capsys):
    "best.pt of a later epoch and no last.pt (removed by hand) is more than a run killed before its first last.pt leaves: kept, refused."
    out = tmp_path / 'r'
    assert cli(capsys, '--epochs', '3', '--val', '0', '--out', str(out), *TINY)[0] == 0
    for q in out.iterdir():
        if q.name not in ('best.pt', 'config.json', 'references.bib'): q.unlink()
    code, _, err = cli(capsys, '--epochs', '3', '--val', '0', '--out', str(out), *TINY)
    assert code == 2 and err.count('\n') == 1 and f'{out} holds no last.pt and a best.pt of epoch 3' in err, err
    assert f'{out}/best.pt holds all that resuming needs: copy it over {out}/last.pt and resume' in err, err
    assert load_checkpoint(out / 'best.pt')['epoch'] == 3

# 4. sbn-bench's case process stops when sbn-bench is killed (kill -9)
PARENT = '''
import json, os, subprocess, sys
from sbn_estimators import bench
kw = dict(net='fc', specs=['st'], device='cpu', batch=2, repeats=10 ** 7, threads=1)   # tiny steps, for far longer than the test waits
if sys.argv[1] == 'fallback':   # the portable watch, where prctl is not there
    assert '.prctl(' in bench._CASES_CHILD
    subprocess.run([sys.executable, '-c', bench._CASES_CHILD.replace('.prctl(', '.no_such_prctl('), json.dumps(kw), str(os.getpid())])
else: bench._child_cases(kw)
'''

def _children(pid):
    out = []
    for d in Path('/proc').iterdir():
        try: stat = (d / 'stat').read_text()
        except (OSError, ValueError): continue
        if d.name.isdigit() and int(stat.rsplit(')', 1)[1].split()[1]) == pid: out.append(int(d.name))
    return out

def _running(pid):
    try: return (Path('/proc') / str(pid) / 'stat').read_text().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError: return False

@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
@pytest.mark.parametrize('how', ['prctl', 'fallback'])
def test_bench_case_process_dies_with_sbn_bench(how):
    parent = subprocess.Popen([sys.executable, '-c', PARENT, how], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not (kids := _children(parent.pid)) and time.time() - t0 < 120: time.sleep(0.1)
        assert kids, 'the case process did not start'
        time.sleep(1)   # let it start
        os.kill(parent.pid, signal.SIGKILL); parent.wait()
        t0 = time.time()
        while any(map(_running, kids)) and time.time() - t0 < 20: time.sleep(0.1)
        left = [k for k in kids if _running(k)]
        assert not left, f'the case process {left} goes on measuring after its parent was killed'
    finally:
        for k in _children(parent.pid) if parent.poll() is None else []: os.kill(k, signal.SIGKILL)
        if parent.poll() is None: parent.kill(); parent.wait()
        for k in locals().get('kids', []):
            if _running(k): os.kill(k, signal.SIGKILL)

# 5. train_cli's exit statuses: a Ctrl-C at any moment gives 130
def test_train_cli_doc_says_130_also_while_loading():
    assert '130 (Ctrl-C, also while the modules load)' in train_cli.__doc__ and 'once PyTorch is imported' not in train_cli.__doc__
