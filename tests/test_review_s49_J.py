"Review s49 J: the package version (0.2.7: numbers changed again, s62: evaluate's accuracies of non-finite outputs; 0.2.6, s61: REBAR and RELAX on parametrized weights, --smoke's generated data, layered models under a float64 default dtype), version notes on resume and `evaluate_run`, `load_results` refusals, MirrorDescent's 16-bit message."
import json, re
from pathlib import Path
import pytest, torch
import sbn_estimators
from sbn_estimators.train import TrainConfig, train, evaluate_run

torch.set_num_threads(1)
TINY = dict(model='sbn_mlp:width=8', epochs=2, n_train=64, n_test=32, val=32, batch_size=32, eval_samples=1)

def test_version_bumped():
    "Today's changes alter numbers: the version says so (settings.ini and the package agree)."
    ini = (Path(__file__).parents[1] / 'settings.ini').read_text()
    assert re.search(r'^version = (\S+)$', ini, re.M)[1] == sbn_estimators.__version__ == '0.2.7'

def _set_version(run, v):
    "Edit the version run folder `run` records (its checkpoints and result.json)."
    for p in run.glob('*.pt'):
        ck = torch.load(p, weights_only=True); ck['sbn_estimators'] = v; ck.pop('sbn_estimators_seen', None); torch.save(ck, p)   # as version v wrote it before checkpoints recorded the run's history
    if (run / 'result.json').is_file():
        r = json.loads((run / 'result.json').read_text()); r['environment']['sbn_estimators'] = v
        (run / 'result.json').write_text(json.dumps(r))

def _notes(err): return [l for l in err.splitlines() if 'sbn_estimators' in l and 'differ' in l]

def test_evaluate_run_notes_other_version(tmp_path, capsys):
    run = tmp_path / 'run'
    res = train(TrainConfig(**TINY), run, progress=False)
    assert torch.load(run / 'last.pt', weights_only=True)['sbn_estimators'] == sbn_estimators.__version__
    capsys.readouterr()
    m = evaluate_run(run)
    assert not _notes(capsys.readouterr().err) and m['test_acc'] == res['test_acc']   # same version: no note
    _set_version(run, '0.1.0')
    evaluate_run(run)
    notes = _notes(capsys.readouterr().err)
    assert len(notes) == 1 and '0.1.0' in notes[0] and sbn_estimators.__version__ in notes[0], notes

def _interrupt_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

@pytest.mark.parametrize('recorded', ['0.1.0', None])
def test_resume_notes_other_version(tmp_path, capsys, recorded):
    "Resuming a run whose last.pt another version wrote (0.1.0, or a checkpoint of 0.1.0 that records no version) says so in one line; the same version says nothing."
    cfg, run = TrainConfig(**TINY), tmp_path / 'run'
    with pytest.raises(KeyboardInterrupt): train(cfg, run, callbacks=[_interrupt_after(1)], progress=False)
    capsys.readouterr()
    same = tmp_path / 'same'
    import shutil; shutil.copytree(run, same)
    train(cfg, same, resume=True, progress=False)
    assert not _notes(capsys.readouterr().err)
    if recorded is None:
        ck = torch.load(run / 'last.pt', weights_only=True); del ck['sbn_estimators'], ck['sbn_estimators_seen']; torch.save(ck, run / 'last.pt')
    else: _set_version(run, recorded)
    train(cfg, run, resume=True, progress=False)
    notes = _notes(capsys.readouterr().err)
    assert len(notes) == 1 and '0.1.0' in notes[0] and sbn_estimators.__version__ in notes[0] and 'last.pt' in notes[0], notes

# load_results (nbs/90_catalogue.ipynb)
from sbn_estimators.catalogue import load_results

def _report(path, **kw):
    rep = dict(network='net.npz', sizes=[2, 3, 1], noise='logistic', samples=100, seed=0, chunk=50, exact_loss=0.5,
               exact_grad={'layer-0': [[0.25, -0.5]]}, estimators={'st': {'groups': [], 'seconds': 1.0}})
    rep.update(kw); path.write_text(json.dumps(rep))

def test_load_results_refuses_a_pattern_matching_nothing(tmp_path):
    _report(tmp_path / 'other.json')
    with pytest.raises(ValueError, match=re.escape(f"pattern 'gradeval_chk100*.json' matches no report in folder {tmp_path}; its JSON files: other.json")):
        load_results(tmp_path)

@pytest.mark.parametrize('field, value', [('network', 'other.npz'), ('sizes', [2, 4, 1]), ('noise', 'normal'), ('samples', 200),
                                          ('exact_loss', 0.6), ('exact_grad', {'layer-0': [[0.25, -0.75]]})])
def test_load_results_refuses_reports_of_other_networks(tmp_path, field, value):
    _report(tmp_path / 'gradeval_chk100_a.json'); _report(tmp_path / 'gradeval_chk100_b.json', **{field: value})
    with pytest.raises(ValueError, match=re.escape(f"cannot merge reports gradeval_chk100_a.json and gradeval_chk100_b.json of folder {tmp_path}: they differ in {field}")):
        load_results(tmp_path)

def test_load_results_merges_what_is_comparable(tmp_path):
    "Another seed or chunk only draws other samples; an exact gradient summed in another order (rounding) is the same network's; a report that records no network name is not refused for it."
    _report(tmp_path / 'gradeval_chk100_a.json')
    _report(tmp_path / 'gradeval_chk100_b.json', seed=1, chunk=100, exact_grad={'layer-0': [[0.25 + 1e-15, -0.5]]}, network=None,
            estimators={'st': {'groups': [], 'seconds': 2.0}, 'arm': {'groups': []}})
    r = load_results(tmp_path)
    assert (r['st']['file'], r['st']['seconds'], r['st']['seed'], r['st']['chunk'], r['arm']['samples']) == ('gradeval_chk100_b.json', 2.0, 1, 100, 100)

def test_load_results_of_the_stored_reports():
    r = load_results(Path(__file__).parents[1] / 'nbs' / 'data')
    assert {'st', 'psa', 'adf', 'rodeo', 'exact'} <= set(r)

# MirrorDescent's refusal of 16-bit latents (nbs/07_binary_weights.ipynb)
@pytest.mark.parametrize('dt', [torch.float16, torch.bfloat16])
def test_mirror_descent_16bit_example_is_true(dt):
    "The example in the message holds for the dtype it names: 100 steps of -s from 1.0 leave 1.0 (bfloat16's -0.001 does not vanish in float16)."
    from sbn_estimators.binary_weights import MirrorDescent
    with pytest.raises(ValueError) as e: MirrorDescent([torch.nn.Parameter(torch.ones(3, dtype=dt))], lr=0.01)
    m = re.search(r'in (\w+), 100 steps of -([\d.e-]+) leave 1\.0 at 1\.0', str(e.value))
    assert m and m[1] == str(dt).removeprefix('torch.'), str(e.value)
    w = torch.ones((), dtype=dt)
    for _ in range(100): w.sub_(float(m[2]))
    assert w.item() == 1.0
