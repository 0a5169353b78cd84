"sbn-gradeval as a user runs it: the installed console script, in a fresh directory."
import json, subprocess
import numpy as np
import pytest
from conftest import ROOT, SHARED_DATA, console_script

GRADEVAL = console_script('sbn-gradeval')


def run(args, cwd):
    return subprocess.run([GRADEVAL, *args, '--no-progress'], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_default_run_trains_the_toy_network(tmp_path):
    r = run(['--samples', '300', '--epochs', '20'], tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    assert (tmp_path / 'gradeval.png').stat().st_size > 10_000
    assert report['network'].startswith('toy')
    assert set(report['estimators']) == {'exact', 'psa', 'st', 'arm', 'reinforce', 'mean_field'}
    for g in report['estimators']['exact']['groups']:
        assert g['rel_rmse_1'] == 0 and g['rel_bias'] == 0 and g['cos_1'] == pytest.approx(1)
    assert 'reinforce' in r.stdout and 'rel_bias' in r.stdout


@pytest.mark.skipif(not (SHARED_DATA / 'psa_gradeval_5-5-5_chk100.npz').exists(), reason="../shared/data is not beside this checkout")
def test_shared_checkpoint_exact_objective(tmp_path):
    r = run([str(SHARED_DATA / 'psa_gradeval_5-5-5_chk100.npz'), '--estimators', 'exact,reinforce,mean_field',
             '--samples', '2000'], tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    assert abs(report['exact_loss'] - 0.6838682289076938) < 1e-9
    assert all(g['rel_rmse_1'] == 0 for g in report['estimators']['exact']['groups'])
    assert all(g['p_unbiased'] > 1e-3 for g in report['estimators']['reinforce']['groups'])


def test_bad_input_gives_one_line_errors(tmp_path):
    r = run(['--estimators', 'reinforse', '--epochs', '0'], tmp_path)
    assert r.returncode == 2 and "unknown estimator 'reinforse'; valid estimators:" in r.stderr
    r = run(['--estimators', 'mean_field:tau=2', '--epochs', '0'], tmp_path)
    assert r.returncode == 2 and "has no parameter tau" in r.stderr
    (tmp_path / 'junk.npz').write_text('not a network')
    r = run([str(tmp_path / 'junk.npz')], tmp_path)
    assert r.returncode == 2 and 'not a readable .npz network file' in r.stderr
    big = {'X': np.zeros((4, 2)), 'Y': np.ones((4, 1)), 'W0': np.zeros((13, 2)), 'b0': np.zeros(13),
           'W1': np.zeros((13, 13)), 'b1': np.zeros(13), 'W2': np.zeros((1, 13)), 'b2': np.zeros(1)}
    np.savez(tmp_path / 'big.npz', **big)
    r = run([str(tmp_path / 'big.npz')], tmp_path)
    assert r.returncode == 2 and 'too large to enumerate' in r.stderr
    r = run([str(tmp_path / 'missing.npz')], tmp_path)
    assert r.returncode == 2 and 'missing.npz' in r.stderr
    assert not (tmp_path / 'gradeval.json').exists()
