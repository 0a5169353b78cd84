"Review s57, fx3: a resumed gradient report reuses a record only for an estimator in the same starting state; `paths`; `train_toy_sbn`'s momentum; `report_table` of a non-report; a clean-up that fails does not hide the run's error (RunFolder, _ReportLock, sbn-gradeval)."
import json
from pathlib import Path
import pytest
import torch
import sbn_estimators.gradeval as G
from sbn_estimators import cli
from sbn_estimators.cli import RunFolder
from sbn_estimators.estimators import estimator


@pytest.fixture(scope='module')
def toy():
    return G.train_toy_sbn(epochs=1)


def _learned(tune=False):
    e = estimator('reinforce', baseline='ema', tune=tune)
    e.load_state_dict({'ema': torch.tensor(0.7, dtype=torch.float64)})
    return e


def test_resume_draws_again_an_instance_in_another_state(toy):
    net, X, Y = toy
    fresh = G.gradient_report(net, X, Y, [('r', estimator('reinforce', baseline='ema', tune=False))], samples=200, Ms=[1], progress=False)
    new = G.gradient_report(net, X, Y, [('r', _learned())], samples=200, Ms=[1], progress=False)
    again = G.gradient_report(net, X, Y, [('r', _learned())], samples=200, Ms=[1], progress=False, resume=fresh)
    assert again['estimators']['r']['groups'] == new['estimators']['r']['groups']   # was fresh's record (rel_rmse_1 21.7 for 6.2)
    assert again['estimators']['r']['groups'] != fresh['estimators']['r']['groups']
    seen = []   # the same state: reused
    G.gradient_report(net, X, Y, [('r', _learned())], samples=200, Ms=[1], progress=False, resume=new, on_estimator=seen.append)
    assert seen == []


def test_a_record_without_a_digest_is_reused_for_an_empty_state_only(toy):
    net, X, Y = toy
    rep = G.gradient_report(net, X, Y, 'reinforce:baseline=ema', samples=50, Ms=[1], progress=False)
    old = {**rep, 'estimators': {k: {f: v for f, v in r.items() if f != 'state_sha256'} for k, r in rep['estimators'].items()}}
    seen = []
    G.gradient_report(net, X, Y, 'reinforce:baseline=ema', samples=50, Ms=[1], progress=False, resume=old, on_estimator=seen.append)
    assert seen == []   # sbn-gradeval's old partials stay resumable
    G.gradient_report(net, X, Y, [('reinforce:baseline=ema', _learned(tune=True))], samples=50, Ms=[1], progress=False, resume=old, on_estimator=seen.append)
    assert len(seen) == 1


def test_the_digest_is_of_the_state_given_not_the_warmed_up_one(toy):
    net, X, Y = toy
    e = estimator('reinforce:baseline=ema')
    rep = G.gradient_report(net, X, Y, [('e', e)], samples=20, chunk=5, warmup=3, Ms=[1], progress=False)
    assert rep['estimators']['e']['state_sha256'] == G._state_digest({})   # the warm-up trains a copy; e stays fresh
    assert G._state_digest({'a': torch.zeros(2), 'b': [1, 2.5]}) == G._state_digest({'b': [1, 2.5], 'a': torch.zeros(2)})
    assert G._state_digest({'a': torch.zeros(2)}) != G._state_digest({'a': torch.zeros(2, dtype=torch.float64)})
    assert G._state_digest({'a': torch.zeros(2)}) != G._state_digest({'a': torch.zeros(1, 2)})


def test_report_records_the_paths_of_reinforce(toy):
    net, X, Y = toy
    rep = G.gradient_report(net, X[:20], Y[:20], 'reinforce:baseline=loo,reinforce,st', samples=4, Ms=[1], progress=False)['estimators']
    assert (rep['reinforce:baseline=loo']['params']['n'], rep['reinforce:baseline=loo']['paths']) == (4, 4)   # the n it resolved (s60: was None)
    assert rep['reinforce']['paths'] == 1 and 'paths' not in rep['st']
    assert 'single-sample' not in G._parser().format_help()


@pytest.mark.parametrize('m', [1, 1.0, 2.0, float('nan'), float('inf'), -0.5, True])
def test_train_toy_sbn_refuses_momentum_outside_0_1(m):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got " + repr(m).replace('.', r'\.')):
        G.train_toy_sbn(epochs=0, momentum=m)


def test_report_table_of_a_non_report():
    for bad, got in (({}, 'got a dict of []'), ({'estimators': {}}, "got a dict of ['estimators']"), (None, 'got NoneType')):
        with pytest.raises(ValueError, match='report must be a report dict') as e: G.report_table(bad)
        assert got in str(e.value)


def _refuse_unlink(monkeypatch, names):
    real = Path.unlink
    def unlink(self, *a, **kw):
        if self.name in names: raise PermissionError(1, 'Operation not permitted', str(self))
        return real(self, *a, **kw)
    monkeypatch.setattr(Path, 'unlink', unlink)


def test_run_folder_keeps_the_runs_error_when_its_clean_up_fails(tmp_path, monkeypatch, capsys):
    run = tmp_path / 'run'
    with pytest.raises(PermissionError, match='best.pt') as e:
        with RunFolder(run) as f:
            cli.save_json(f.path / 'config.json', {})
            _refuse_unlink(monkeypatch, {'config.json', '.lock'})   # the folder became unwritable
            raise PermissionError(1, 'Operation not permitted', str(f.path / '.best.pt.1.tmp'))
    err = capsys.readouterr().err
    assert 'could not remove the lock file' in err and 'could not remove the failed run' in err, err
    assert (run / '.lock').is_file()   # left behind: a later run on this host takes it over, its process gone


def test_run_folder_without_an_error_still_raises_a_failed_release(tmp_path, monkeypatch):
    with pytest.raises(PermissionError, match='.lock'):
        with RunFolder(tmp_path / 'run'):
            _refuse_unlink(monkeypatch, {'.lock'})


def test_report_lock_keeps_the_runs_error(tmp_path, monkeypatch):
    with pytest.raises(PermissionError, match='a.json.partial'):
        with G._ReportLock(tmp_path / 'a.json'):
            _refuse_unlink(monkeypatch, {'.a.json.lock'})
            raise PermissionError(1, 'Operation not permitted', str(tmp_path / 'a.json.partial'))


def test_gradeval_cli_names_the_file_that_failed_not_the_lock(tmp_path, monkeypatch, capsys):
    real = cli.save_json
    def save_json(path, obj):
        if str(path).endswith('.partial'):
            _refuse_unlink(monkeypatch, {'.g.json.lock', '.g.png.lock'})
            raise PermissionError(1, 'Operation not permitted', str(path))
        return real(path, obj)
    monkeypatch.setattr(cli, 'save_json', save_json)
    with pytest.raises(SystemExit) as e:
        G.gradeval_cli(['--epochs', '0', '--estimators', 'st', '--samples', '4', '--quiet',
                        '--json', str(tmp_path / 'g.json'), '--plot', str(tmp_path / 'g.png')])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'g.json.partial' in err.splitlines()[-1], err   # was: error: ... '.g.png.lock'
