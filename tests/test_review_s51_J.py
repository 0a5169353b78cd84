"Review s51 (fixJ): `sbn-gradeval --quiet` keeps its status line off stdout (and drops it), and `run_comparison` logs its learning-rate search."
import json
import pytest, torch
from sbn_estimators.gradeval import gradeval_cli
from sbn_estimators.train import TrainConfig
from sbn_estimators.lr_search import run_comparison, search_lr

torch.set_num_threads(1)


def _gradeval(tmp_path, monkeypatch, capsys, *extra):
    monkeypatch.chdir(tmp_path)
    gradeval_cli(['--estimators', 'st', '--samples', '10', '--epochs', '1', '--json', 'q.json', '--plot', 'q.png', *extra])
    return capsys.readouterr()


def test_quiet_gradeval_prints_only_results(tmp_path, monkeypatch, capsys):
    "Old: the status line 'training the toy ...' went to stdout even under --quiet, so `> table.txt` saved it with the table."
    out, err = _gradeval(tmp_path, monkeypatch, capsys, '--quiet')
    assert 'training the toy' not in out + err, (out, err)
    assert out.splitlines()[0].startswith('exact loss ') and out.splitlines()[-1] == 'wrote q.json and q.png', out
    assert err == '', err


def test_gradeval_status_line_goes_to_stderr(tmp_path, monkeypatch, capsys):
    "Without --quiet, the status line is on stderr (as sbn-train's), stdout has the results only."
    out, err = _gradeval(tmp_path, monkeypatch, capsys)
    assert 'training the toy' not in out, out
    assert 'training the toy 2-5-5-5-1 network on the cos data (1 epoch, seed 0) ...' in err.splitlines(), err
    assert out.splitlines()[0].startswith('exact loss '), out


def _cos(): return TrainConfig(data='cos', estimator='st', epochs=1, device='cpu', n_train=64, batch_size=16, val=16, n_test=16, eval_samples=2)


def test_run_comparison_logs_each_search_trial(tmp_path):
    "Old: nothing was logged until the first seed run finished; now the file the trials go to, each trial (rate, metric, score) and the choice."
    lines = []
    rows = run_comparison(_cos(), {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3, 1e-2), search_epochs=1, log=lines.append)
    path = tmp_path / 'st' / 'lr_search.json'
    assert len(lines) == 5, lines
    assert lines[0].startswith('st seed 0 lr search: 2 trials of 1 epoch, scored by ') and lines[0].endswith(f'; trials saved to {path}'), lines[0]
    trials = json.loads(path.read_text())['trials']
    metric = json.loads(path.read_text())['metric']
    for k, (line, t) in enumerate(zip(lines[1:3], trials)):
        score = f"{metric} {t['score']:.4f}" if t['score'] is not None else 'diverged'
        assert line.startswith(f"st seed 0 lr search trial {k + 1}/2: lr {t['lr']:g}, ") and line.endswith(score), (line, t)
    assert lines[3] == f"st seed 0 lr search: best lr {rows[0]['lr']:g} by {metric}", lines[3]
    assert lines[4].startswith(f"st seed 0: lr {rows[0]['lr']:g}, expected test acc "), lines[4]
    lines.clear()   # a second call reuses the search and the run: no trial, nothing about the search
    run_comparison(_cos(), {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3, 1e-2), search_epochs=1, log=lines.append)
    assert len(lines) == 1 and lines[0].startswith('st seed 0: lr '), lines


def test_search_lr_logs_when_asked_and_is_quiet_by_default(tmp_path, capsys):
    lines = []
    rec = search_lr(_cos(), (1e-3, 1e-2), out=tmp_path, log=lines.append)
    assert len(lines) == 4 and lines[-1] == f"lr search: best lr {rec['lr']:g} by {rec['metric']}", lines
    capsys.readouterr(); search_lr(_cos(), (1e-3, 3e-3))   # default: nothing printed
    assert capsys.readouterr().out == ''


def test_search_log_counts_the_whole_staged_plan():
    "A staged plan's trial trains every stage: the first log line gives the plan's total epochs (5), not search_lr's `epochs` (1)."
    cfg = TrainConfig(model='duo_mlp', estimator='clipped_st', stages=[{'name': 'coupled', 'epochs': 2}, {'name': 'decoupled', 'transform': 'decouple', 'epochs': 3}])
    seen, lines = [], []
    def stub(c, out=None, callbacks=(), progress=False):
        seen.append(sum(s['epochs'] for s in c.plan()))
        for e in range(1, seen[-1] + 1):
            for cb in callbacks: cb(e, dict(epoch=e, val_acc=0.5 + c.lr, val_det_acc=0.5 + c.lr, val_loss=1., val_det_loss=1.))
    search_lr(cfg, (1e-3, 1e-2), epochs=1, train_fn=stub, log=lines.append)
    assert seen == [5, 5]
    assert lines[0].startswith('lr search: 2 trials of 5 epochs, scored by '), lines[0]
