"Review s53, G1: estimators that learn while they draw (ema, nvil, rebar, relax, rodeo) get a common `tune` switch, and `gradient_report(..., warmup=N)` / `sbn-gradeval --warmup N` draws them from one frozen state, so the report no longer depends on the chunk."
import copy, json
import pytest
import torch
from sbn_estimators.gradeval import gradient_report, report_table, train_toy_sbn, read_report
from sbn_estimators.estimators import draw_estimates, estimator
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from conftest import ROOT


@pytest.fixture(scope='module')
def toy():
    return train_toy_sbn(epochs=30)


def _std(r, k): return [g['rel_std'] for g in r['estimators'][k]['groups']]


def test_ema_report_with_warmup_does_not_depend_on_chunk(toy):
    net, X, Y = toy
    runs = {(w, c): gradient_report(net, X, Y, 'reinforce:baseline=ema,reinforce', samples=400, chunk=c, warmup=w, Ms=[1], progress=False)
            for w in (0, 40) for c in (20, 400)}
    ema = 'reinforce:baseline=ema'
    # warmup=0: a mixture of 20 states against one (B = 0, plain REINFORCE): a factor of about 2 in the binary layers
    assert all(a / b < 0.7 for a, b in zip(_std(runs[0, 20], ema)[:3], _std(runs[0, 400], ema)[:3]))
    assert runs[0, 400]['estimators'][ema]['groups'] == runs[0, 400]['estimators']['reinforce']['groups']
    # warmup > 0: one frozen state, the chunk only chooses the samples
    for a, b in zip(_std(runs[40, 20], ema), _std(runs[40, 400], ema)): assert a / b == pytest.approx(1, abs=0.1)
    # an estimator that learns nothing is drawn as without a warm-up
    for c in (20, 400): assert runs[40, c]['estimators']['reinforce'] == {**runs[0, c]['estimators']['reinforce'], 'seconds': runs[40, c]['estimators']['reinforce']['seconds']}
    assert (runs[40, 20]['warmup'], runs[0, 20]['warmup']) == (40, 0)
    assert report_table(runs[40, 20]).splitlines()[0].endswith('seed 0, chunk 20, warmup 40)')


def test_warmup_leaves_the_callers_estimator_alone_and_is_validated(toy):
    net, X, Y = toy
    e = estimator('reinforce:baseline=ema')
    r = gradient_report(net, X[:20], Y[:20], [e], samples=10, warmup=3, Ms=[1], progress=False)
    assert e.tune is True and e.ema is None                               # a copy was warmed up and frozen
    assert r['estimators']['reinforce:baseline=ema']['spec'] == 'reinforce:baseline=ema'
    for bad in (-1, 1.5, True, '3'):
        with pytest.raises(ValueError, match='warmup must be an integer >= 0'):
            gradient_report(net, X[:20], Y[:20], 'st', samples=4, warmup=bad, progress=False)
    with pytest.raises(ValueError, match='cannot resume: the saved report has warmup 3, this run 0'):
        gradient_report(net, X[:20], Y[:20], 'reinforce:baseline=ema', samples=10, Ms=[1], progress=False, resume=r)
    old = {k: v for k, v in r.items() if k != 'warmup'}                  # a report from before `warmup`: drawn without one
    again = gradient_report(net, X[:20], Y[:20], 'reinforce:baseline=ema', samples=10, Ms=[1], progress=False, resume=old)
    assert again['estimators'] == old['estimators'] and again['warmup'] == 0


def _state(est):
    "Copies of an estimator's learned state: its tensors and the state of its networks and optimiser's modules."
    out = {}
    for k, v in vars(est).items():
        if isinstance(v, torch.Tensor): out[k] = v.detach().clone()
        elif isinstance(v, torch.nn.Module): out.update({f'{k}.{n}': t.detach().clone() for n, t in v.state_dict().items()})
    return out


def _same(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('spec', ['rebar', 'relax', 'rodeo', 'reinforce:baseline=nvil'])
def test_warmup_freezes_every_estimator_that_learns(toy, spec, monkeypatch):
    "The estimator the report draws from is the warmed-up one (its state moved from the fresh one's), and the draws leave its state as the warm-up left it."
    import sbn_estimators.gradeval as G
    net, X, Y = toy
    fresh, seen, real = _state(estimator(spec)), [], G._warm_up
    def spy(*args, **kw):
        est = real(*args, **kw); seen.append((est, _state(est))); return est
    monkeypatch.setattr(G, '_warm_up', spy)
    for c in (10, 100):
        r = gradient_report(net, X[:40], Y[:40], spec, samples=100, chunk=c, warmup=5, Ms=[1], progress=False)
        assert all(g['rel_std'] > 0 for g in r['estimators'][spec]['groups'])
        (est, warmed), = seen; seen.clear()
        assert est.tune is False and not _same(warmed, fresh)            # the warm-up trained it, then froze it
        assert _same(_state(est), warmed)                                 # 100 draws in 10 or 1 surrogate calls: no update


def test_tune_false_leaves_the_ema_and_nvil_baselines_unchanged():
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 3, 1]), X, seed=0)
    ema = estimator('reinforce:baseline=ema,tune=False')
    assert ema.tune is False and ema.spec == 'reinforce:baseline=ema,tune=False' and not ema.needs_grad
    for _ in range(3): ema.surrogate(net, X, Y, net.sample_params(4)).backward()
    assert ema.ema is None                                               # never updated: B = 0 throughout
    warm = estimator('reinforce:baseline=ema')
    for _ in range(3): warm.surrogate(net, X, Y, net.sample_params(4)).backward()
    warm.tune = False
    kept = warm.ema.clone()
    for _ in range(3): warm.surrogate(net, X, Y, net.sample_params(4)).backward()
    assert torch.equal(warm.ema, kept)
    nvil = estimator('reinforce', baseline='nvil', tune=False)
    nvil.surrogate(net, X, Y, net.sample_params(4)).backward()           # builds the baseline network
    w0 = copy.deepcopy(nvil.baseline_net.state_dict())
    for _ in range(3): nvil.surrogate(net, X, Y, net.sample_params(4)).backward()
    assert all(torch.equal(w0[k], v) for k, v in nvil.baseline_net.state_dict().items())
    assert not nvil._opt.state                                           # no Adam step taken


def test_tune_is_validated_and_refused_where_nothing_learns():
    with pytest.raises(ValueError, match="tune must be True or False"): estimator('reinforce:baseline=ema,tune=maybe')
    for b in ('none', 'loo'):
        with pytest.raises(ValueError, match=f"reinforce: tune applies to baseline='ema' or 'nvil' only, got tune=False with baseline='{b}'"):
            estimator(f'reinforce:baseline={b},tune=False')
    assert estimator('reinforce:baseline=loo,tune=True').spec == 'reinforce:baseline=loo'


def test_cli_warmup(tmp_path, call):
    r = call(['--epochs', '5', '--estimators', 'reinforce:baseline=ema,st', '--samples', '50', '--chunk', '10', '--warmup', '7'])
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    assert report['warmup'] == 7 and report['chunk'] == 10
    assert 'chunk 10, warmup 7)' in r.stdout.splitlines()[0]
    for value in ('-1', '1.5', 'x'):
        r = call(['--warmup', value])
        errors = [l for l in r.stderr.splitlines() if l.startswith('sbn-gradeval: error:')]
        assert r.returncode == 2 and len(errors) == 1 and errors == r.stderr.splitlines()[-1:], r.stderr
        assert errors[0] == f"sbn-gradeval: error: argument --warmup: must be an integer >= 0, got '{value}'", errors


def test_cli_resume_refuses_another_warmup(tmp_path, call):
    partial = tmp_path / 'gradeval.json.partial'
    net, X, Y = train_toy_sbn(epochs=0)
    r = gradient_report(net, X, Y, 'st', samples=10, progress=False)
    partial.write_text(json.dumps({'network': 'toy (cos data, 0 epochs, seed 0)', **r}))
    res = call(['--epochs', '0', '--estimators', 'st,reinforce:baseline=ema', '--samples', '10', '--warmup', '2', '--resume'])   # one that learns: --warmup is used
    assert res.returncode == 2 and 'the saved report has warmup 0, this run 2; give --warmup 0' in res.stderr, res.stderr


def test_stored_reports_still_load_and_show():
    for f in sorted((ROOT / 'nbs' / 'data').glob('gradeval*.json')):
        rep = read_report(f)
        assert 'warmup' not in report_table(rep).splitlines()[0]


def test_load_results_rows_carry_the_warmup(tmp_path):
    "A learning estimator's numbers depend on the warm-up: the merged rows say which (0 for a report from before `warmup`)."
    import json as _json
    from sbn_estimators.catalogue import load_results
    base = {'network': 'toy', 'sizes': [2, 3, 1], 'noise': 'logistic', 'samples': 100, 'seed': 0, 'chunk': 50,
            'exact_loss': 0.5, 'exact_grad': {'layer-0': [[0.25, -0.5]]}}
    (tmp_path/'gradeval_chk100_a.json').write_text(_json.dumps({**base, 'estimators': {'st': {'groups': []}}}))
    (tmp_path/'gradeval_chk100_b.json').write_text(_json.dumps({**base, 'warmup': 20, 'estimators': {'rebar': {'groups': []}}}))
    r = load_results(tmp_path)
    assert (r['st']['warmup'], r['rebar']['warmup']) == (0, 20)
