"Review s47, fix L1: `sbn-train` refuses before it writes to the run folder (validate first, then write): under torchrun an estimator that learns a state, an optimizer that cannot train the model, init 'normalize' without two examples, a resumed run's process count; and the run's record (result.json, the checkpoints) keeps the estimator's resolved parameters, which --resume compares."
import copy, json
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators import cli
from sbn_estimators.train import TrainConfig, train, load_checkpoint
from sbn_estimators.gumbel_family import ReinMax
from conftest import sbn_train

torch.set_num_threads(1)

SMALL = dict(epochs=1, n_train=256, n_test=64, val=64, device='cpu', eval_samples=1)


def _fake_world(monkeypatch, world=2):
    "Two processes as `train` sees them, without a process group: rank 0 (the one that writes), averaging a no-op."
    monkeypatch.setattr(T, '_dist_setup', lambda device: (0, world, torch.device('cpu')))
    monkeypatch.setattr(T, '_all_average', lambda ts: None)
    monkeypatch.setattr(T, '_rng_state', lambda world: [{'cpu': torch.get_rng_state(), 'cuda': []}])   # as `_rng_state` saves it


@pytest.fixture
def entered(monkeypatch):
    "The run folders entered, by a `RunFolder` that does not clean up after a failure: as a process that torchrun stops once another rank has failed, or that is killed."
    seen = []
    class Uncleaned(cli.RunFolder):
        def __enter__(self): seen.append(self.path); return super().__enter__()
        def __exit__(self, kind, exc, tb): self._release(); return False
    monkeypatch.setattr(cli, 'RunFolder', Uncleaned)
    return seen


@pytest.mark.parametrize('spec', ['rodeo', 'reinforce:baseline=ema'])
def test_a_learning_estimator_under_torchrun_is_refused_before_the_folder_is_written(monkeypatch, tmp_path, entered, spec):
    _fake_world(monkeypatch)
    with pytest.raises(ValueError, match=rf"estimator '{spec}' learns a state of its own .* 2 processes"):
        train(TrainConfig(estimator=spec, **SMALL), out=tmp_path / 'r', progress=False)
    assert entered == [] and not (tmp_path / 'r').exists()   # was: config.json and references.bib left behind


def test_the_command_refuses_with_one_line_and_leaves_an_empty_folder_empty(monkeypatch, tmp_path, capsys, entered):
    _fake_world(monkeypatch)
    (tmp_path / 'r').mkdir()
    code, out, err = sbn_train(capsys, '--estimator', 'rodeo', '--epochs', '1', '--n-train', '256', '--val', '64',
                               '--eval-samples', '1', '--device', 'cpu', '--quiet', '--out', str(tmp_path / 'r'))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "learns a state of its own" in err, err
    assert list((tmp_path / 'r').iterdir()) == []


def test_a_stateless_estimator_still_trains_under_torchrun(monkeypatch, tmp_path):
    _fake_world(monkeypatch)
    r = train(TrainConfig(estimator='arm', **SMALL), out=tmp_path / 'r', progress=False)
    assert 'model' in r and (tmp_path / 'r' / 'last.pt').is_file()


def test_the_probe_changes_neither_the_random_state_nor_the_model():
    "The first call that shows what the estimator learns runs on copies, with the random state forked."
    cfg = TrainConfig(estimator='reinforce:baseline=ema', **SMALL)
    data = T.load_data(cfg)
    model, est = T.build(cfg, data)
    weights, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    with pytest.raises(ValueError, match=r"learns a state of its own as it trains \(ema\)"): T._check_learned_state(data, model, est, 2)
    assert torch.equal(torch.get_rng_state(), rng) and est.state_dict() == {}
    assert all(p.grad is None for p in model.parameters())
    for k, w in model.state_dict().items(): assert torch.equal(w, weights[k]), k
    T._check_learned_state(data, model, est, 1)   # one process: nothing to check


@pytest.mark.parametrize('kw, msg', [
    (dict(optimizer='bop'), "optimizer 'bop' trains binary weights and model"),
    (dict(init='normalize', n_train=1, batch_size=1), "init 'normalize' scales the pre-activations"),
])
def test_other_refusals_come_before_the_folder_is_written(tmp_path, entered, kw, msg):
    with pytest.raises(ValueError, match=msg):
        train(TrainConfig(**{**SMALL, **kw}), out=tmp_path / 'r', progress=False)
    assert entered == [] and not (tmp_path / 'r').exists()


def _stopped(tmp_path, cfg):
    "A run folder of `cfg` stopped after its first epoch: last.pt to resume from."
    class Stop(Exception): pass
    def stop(epoch, row): raise Stop()
    with pytest.raises(Stop): train(cfg, out=tmp_path / 'r', progress=False, callbacks=[stop])
    return tmp_path / 'r'


def test_a_resume_with_another_process_count_is_refused_before_the_folder_is_entered(monkeypatch, tmp_path, entered):
    out = _stopped(tmp_path, TrainConfig(**dict(SMALL, epochs=2)))
    _fake_world(monkeypatch)
    entered.clear()
    before = {q.name: q.read_bytes() for q in out.iterdir()}
    with pytest.raises(ValueError, match=r"random states of 1 process\(es\) and this run has 2"):
        train(TrainConfig(**dict(SMALL, epochs=2)), out=out, resume=True, progress=False)
    assert entered == [out]   # a resume locks the folder before it reads it (review s55)
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before   # nothing written (was: metrics.csv rewritten, then refused); the lock released


def test_the_record_keeps_the_resolved_estimator_parameters(tmp_path):
    train(TrainConfig(estimator='dst:deterministic=true', **dict(SMALL, epochs=2)), out=tmp_path / 'r', progress=False)
    want = {'name': 'st', 'noise': 'logistic', 'deterministic': True}   # the alias resolved, the default filled in
    assert json.loads((tmp_path / 'r' / 'result.json').read_text())['estimator_params'] == want
    for f in ('last.pt', 'best.pt'): assert load_checkpoint(tmp_path / 'r' / f)['estimator_params'] == want, f
    assert 'estimator_params' not in json.loads((tmp_path / 'r' / 'config.json').read_text())   # config.json as before: old folders compare


def test_resume_refuses_a_changed_default_naming_it(monkeypatch, tmp_path, capsys):
    cfg = TrainConfig(estimator='reinmax', **dict(SMALL, epochs=2))
    out = _stopped(tmp_path, cfg)
    assert load_checkpoint(out / 'last.pt')['estimator_params'] == {'name': 'reinmax', 'tau': 1.0}
    monkeypatch.setattr(ReinMax.__init__, '__defaults__', (2.0,))   # a later version with another default
    with pytest.raises(ValueError, match=r"last.pt records estimator 'reinmax' with tau 1.0, and this version of sbn_estimators resolves it to tau 2.0"):
        train(cfg, out=out, resume=True, progress=False)
    code, _, err = sbn_train(capsys, '--resume', '--out', str(out), '--quiet')
    assert code == 2 and len(err.strip().splitlines()) == 1 and 'tau 1.0' in err and 'tau 2.0' in err, err


def test_a_folder_of_an_earlier_version_resumes_as_before(monkeypatch, tmp_path):
    cfg = TrainConfig(estimator='reinmax', **dict(SMALL, epochs=2))
    out = _stopped(tmp_path, cfg)
    for f in ('last.pt', 'best.pt'):   # as an earlier version wrote them: no record
        ck = torch.load(out / f, weights_only=True); del ck['estimator_params']; torch.save(ck, out / f)
    monkeypatch.setattr(ReinMax.__init__, '__defaults__', (2.0,))
    r = train(cfg, out=out, resume=True, progress=False)
    assert r['seconds_per_epoch'] > 0 and json.loads((out / 'result.json').read_text())['estimator_params'] == {'name': 'reinmax', 'tau': 2.0}


def test_a_damaged_record_is_named(tmp_path):
    T.save_checkpoint(tmp_path / 'x.pt', estimator_params='tau=1')
    with pytest.raises(ValueError, match="its estimator_params is 'tau=1', expected a dict"): load_checkpoint(tmp_path / 'x.pt')


SPY = """
import os, pathlib
from sbn_estimators import cli
_enter = cli.RunFolder.__enter__
def _spied(self):   # a run folder entered: its path noted, as rank 0 would leave it if torchrun stopped it before its cleanup
    with open(os.environ['L1_ENTERED'], 'a') as f: f.write(str(self.path) + chr(10))
    return _enter(self)
cli.RunFolder.__enter__ = _spied
"""

def test_under_torchrun_the_refused_run_enters_no_folder(tmp_path):
    "Two real gloo processes: each refuses with one line before rank 0 enters (creates, locks, writes) the run folder."
    import os, subprocess, sys
    (tmp_path / 'spy.py').write_text(SPY)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'L1_ENTERED': str(tmp_path / 'entered.txt')}
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2', '-m', 'sbn_estimators.train',
                        '--plugins', str(tmp_path / 'spy.py'), '--estimator', 'reinforce:baseline=ema', '--epochs', '1', '--n-train', '256',
                        '--val', '64', '--eval-samples', '1', '--device', 'cpu', '--threads', '1', '--quiet', '--out', str(tmp_path / 'r')],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode != 0 and "learns a state of its own as it trains (ema)" in p.stderr, p.stderr[-3000:]
    assert not (tmp_path / 'entered.txt').exists() and not (tmp_path / 'r').exists()   # was: entered, config.json and references.bib written
