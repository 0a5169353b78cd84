"Review s50: checkpoints record every version of sbn_estimators that trained the run, so a run resumed across an upgrade keeps saying so (nbs/14_train.ipynb: `_versions`, `_version_note`)."
import shutil
import pytest, torch
import sbn_estimators
from sbn_estimators.train import TrainConfig, train, evaluate_run

torch.set_num_threads(1)
TINY = dict(model='sbn_mlp:width=8', epochs=3, n_train=64, n_test=32, val=32, batch_size=32, eval_samples=1)
NOW = sbn_estimators.__version__

def _stop_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

def _notes(err): return [l for l in err.splitlines() if 'sbn_estimators' in l and 'differ' in l]

def _recorded(run, name='last.pt'):
    ck = torch.load(run / name, weights_only=True)
    return ck['sbn_estimators'], ck['sbn_estimators_seen']

def test_a_fresh_run_records_one_version_and_notes_nothing(tmp_path, capsys):
    run = tmp_path / 'run'
    train(TrainConfig(**TINY), run, progress=False)
    assert _recorded(run) == (NOW, [NOW]) and _recorded(run, 'best.pt') == (NOW, [NOW])
    capsys.readouterr(); evaluate_run(run)
    assert not _notes(capsys.readouterr().err)

def test_a_run_resumed_across_versions_keeps_its_history(tmp_path, capsys):
    "Stopped under 0.1.0 (its checkpoints record no version), resumed under this version, stopped again and resumed again: "
    "every later checkpoint records both versions, and the second resume and `evaluate_run` still say the run is mixed."
    cfg, run = TrainConfig(**TINY), tmp_path / 'run'
    with pytest.raises(KeyboardInterrupt): train(cfg, run, callbacks=[_stop_after(1)], progress=False)
    ck = torch.load(run / 'last.pt', weights_only=True)
    del ck['sbn_estimators'], ck['sbn_estimators_seen']; torch.save(ck, run / 'last.pt')   # as 0.1.0 wrote it
    with pytest.raises(KeyboardInterrupt): train(cfg, run, resume=True, callbacks=[_stop_after(2)], progress=False)
    assert _recorded(run) == (NOW, ['0.1.0', NOW])
    capsys.readouterr()
    train(cfg, run, resume=True, progress=False)
    notes = _notes(capsys.readouterr().err)
    assert len(notes) == 1 and f'0.1.0 then {NOW}' in notes[0], notes
    assert _recorded(run) == (NOW, ['0.1.0', NOW])
    evaluate_run(run)
    assert len(_notes(capsys.readouterr().err)) == 1

def test_a_same_version_resume_notes_nothing(tmp_path, capsys):
    cfg, run = TrainConfig(**TINY), tmp_path / 'run'
    with pytest.raises(KeyboardInterrupt): train(cfg, run, callbacks=[_stop_after(1)], progress=False)
    capsys.readouterr()
    train(cfg, run, resume=True, progress=False)
    assert not _notes(capsys.readouterr().err) and _recorded(run) == (NOW, [NOW])
