"run_comparison with stored runs: an interrupted search's trials are reused and saved per trial; every method's runs are checked before any training."
import dataclasses, json, math
import pytest, torch
from sbn_estimators.train import TrainConfig
from sbn_estimators.lr_search import run_comparison

torch.set_num_threads(1)
CFG = TrainConfig(epochs=2)

def stub(calls, stop=None):
    "A trainer recording the rates it trains (best at 1e-3); raises KeyboardInterrupt (as Ctrl-C) at the rate `stop`."
    def train_fn(cfg, out=None, callbacks=(), progress=False, **kw):
        if cfg.lr == stop: raise KeyboardInterrupt
        calls.append(cfg.lr)
        acc = 0.5 - abs(math.log10(cfg.lr) + 3) / 10
        for e in range(cfg.epochs):
            for cb in callbacks: cb(e + 1, dict(epoch=e + 1, train_loss=1., val_loss=1., val_acc=acc, val_ens_acc=acc, val_det_acc=acc))
        return dict(test_loss=1., test_acc=acc, test_ens_acc=acc, test_det_acc=acc, seconds_per_epoch=2.)
    return train_fn

def test_an_interrupted_search_beside_finished_runs_is_not_retrained(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    p = tmp_path / 'st' / 'lr_search.json'
    rec = json.loads(p.read_text()); del rec['lr']; p.write_text(json.dumps(rec))   # interrupted after its last trial
    calls.clear()
    rows = run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    assert calls == [] and rows[0]['lr'] == 1e-3
    assert json.loads(p.read_text())['lr'] == 1e-3

def test_a_search_for_stored_runs_keeps_its_trials_when_stopped(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    p = tmp_path / 'st' / 'lr_search.json'
    p.unlink()   # the runs stay, their search is gone
    calls.clear()
    with pytest.raises(KeyboardInterrupt): run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls, stop=3e-3), log=None)
    assert calls == [3e-4, 1e-3] and not p.exists()
    calls.clear()
    rows = run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    assert calls == [3e-3] and rows[0]['lr'] == 1e-3   # only the trial that did not finish
    assert json.loads(p.read_text())['lr'] == 1e-3 and [t['lr'] for t in json.loads(p.read_text())['trials']] == [3e-4, 1e-3, 3e-3]
    assert not (tmp_path / 'st' / 'lr_search.part.json').exists()

def test_an_interrupted_search_record_beside_stored_runs_gets_each_trial(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    p = tmp_path / 'st' / 'lr_search.json'
    rec = json.loads(p.read_text()); del rec['lr']; rec['trials'] = rec['trials'][:1]; p.write_text(json.dumps(rec))
    calls.clear()
    with pytest.raises(KeyboardInterrupt): run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls, stop=3e-3), log=None)
    assert calls == [1e-3] and [t['lr'] for t in json.loads(p.read_text())['trials']] == [3e-4, 1e-3]

def test_every_method_s_runs_are_checked_before_any_training(tmp_path):
    run = tmp_path / 'zgr_b' / 'seed0'; run.mkdir(parents=True); (run / 'last.pt').touch()
    (run / 'config.json').write_text(json.dumps(dataclasses.asdict(dataclasses.replace(CFG, epochs=5, lr=1e-3))))
    calls = []
    with pytest.raises(ValueError, match=r"zgr_b.seed0 holds a run stopped part-way of another configuration \(epochs: 5 there, 2 now\)"):
        run_comparison(CFG, {'a_st': {}, 'zgr_b': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    assert calls == [] and not (tmp_path / 'a_st').exists()

def test_every_method_s_search_is_checked_before_any_training(tmp_path):
    calls = []
    run_comparison(CFG, {'b': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    calls.clear()
    with pytest.raises(ValueError, match=r"b.seed0 holds a run at the rate that the search in .*lr_search.json chose, and that search differs"):
        run_comparison(CFG, {'a': {}, 'b': {}}, tmp_path, seeds=(0,), grid=(1e-2, 3e-2), train_fn=stub(calls), log=None)
    assert calls == [] and not (tmp_path / 'a').exists()
