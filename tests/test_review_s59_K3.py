"Review s59, K3: a `--warmup` that no estimator uses is refused (it changed nothing, yet the table, JSON and figure said 'warmup N'); `gradient_report` records the warm-up as 0 where nothing learns, and `--resume` ignores the warm-up an older partial report of such estimators recorded."
import json
import pytest
from sbn_estimators.gradeval import gradient_report, report_table, train_toy_sbn, _learns
from sbn_estimators.estimators import ESTIMATORS, estimator


def _errors(r): return [l for l in r.stderr.splitlines() if l.startswith('sbn-gradeval: error:')]


@pytest.mark.parametrize('specs, names', [('st', 'st'), ('rebar:tune=false', 'rebar:tune=False'), ('st,reinforce', 'st, reinforce')])
def test_cli_refuses_a_warmup_no_estimator_uses(tmp_path, call, specs, names):
    r = call(['--epochs', '0', '--estimators', specs, '--samples', '4', '--warmup', '5'])
    assert r.returncode == 2 and _errors(r) == r.stderr.splitlines()[-1:], r.stderr
    assert _errors(r)[0] == (f"sbn-gradeval: error: --warmup 5 is not used: none of {names} learns while it draws "
                             "(as reinforce with baseline=ema or nvil, rebar, relax and rodeo do, with tune=True); drop --warmup"), r.stderr
    assert not (tmp_path / 'gradeval.json').exists()


def test_the_message_names_the_estimators_that_learn():
    "The list in the message is the registry's: the built-in estimators whose fresh instance learns while it draws."
    import sbn_estimators.gradeval   # noqa: F401  (registers every built-in estimator)
    fresh = sorted(n for n in ESTIMATORS if _learns(estimator(n)))
    assert fresh == ['rebar', 'relax', 'rodeo']
    assert [b for b in ('none', 'ema', 'loo', 'nvil') if _learns(estimator(f'reinforce:baseline={b}'))] == ['ema', 'nvil']


def test_cli_warmup_with_one_estimator_that_learns(tmp_path, call):
    r = call(['--epochs', '0', '--estimators', 'st,reinforce:baseline=ema', '--samples', '10', '--chunk', '5', '--warmup', '3'])
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / 'gradeval.json').read_text())
    assert rep['warmup'] == 3 and 'chunk 5, warmup 3)' in r.stdout.splitlines()[0]
    assert ['warmup_seconds' in rep['estimators'][k] for k in ('st', 'reinforce:baseline=ema')] == [False, True]   # which warmed up


def test_api_records_no_warmup_where_nothing_learns():
    net, X, Y = train_toy_sbn(epochs=0)
    plain = gradient_report(net, X, Y, 'st', samples=10, Ms=[1], progress=False)
    given = gradient_report(net, X, Y, 'st', samples=10, Ms=[1], progress=False, warmup=5)
    assert given['warmup'] == 0 and given['estimators']['st']['groups'] == plain['estimators']['st']['groups']
    assert report_table(given).splitlines()[0].endswith('chunk 500, warmup 0)')
    old = {**plain, 'warmup': 5}   # what an older version recorded for st at warmup=5: it still resumes
    seen = []
    again = gradient_report(net, X, Y, 'st', samples=10, Ms=[1], progress=False, resume=old, on_estimator=seen.append)
    assert seen == [] and again['estimators'] == plain['estimators'] and again['warmup'] == 0
    with pytest.raises(ValueError, match='cannot resume: the saved report has warmup 5, this run 0'):   # where one learns, it still matters
        gradient_report(net, X, Y, 'st,reinforce:baseline=ema', samples=10, Ms=[1], progress=False, resume=old)


def test_cli_resumes_an_older_partial_that_recorded_an_unused_warmup(tmp_path, call):
    net, X, Y = train_toy_sbn(epochs=0)
    r = gradient_report(net, X, Y, 'st', samples=10, progress=False)
    (tmp_path / 'gradeval.json.partial').write_text(json.dumps({'network': 'toy (cos data, 0 epochs, seed 0)', **r, 'warmup': 5}))
    res = call(['--epochs', '0', '--estimators', 'st', '--samples', '10', '--resume'])
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / 'gradeval.json').read_text())
    assert rep['warmup'] == 0 and rep['estimators']['st']['groups'] == r['estimators']['st']['groups']
