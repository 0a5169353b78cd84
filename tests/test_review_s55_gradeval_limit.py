"""sbn-gradeval names only what its user can change about exact enumeration's memory limit: the environment variable
SBN_EXACT_MAX_BYTES (the command has no max_bytes=), in its refusal and in --help."""
import numpy as np
import pytest, torch
from sbn_estimators.exact import check_enumerable
from sbn_estimators.gradeval import gradeval_cli
from sbn_estimators.sbn import SBNMLP


def _big(path):
    np.savez(path, X=np.zeros((4, 2)), Y=np.ones((4, 1)), W0=np.zeros((24, 2)), b0=np.zeros(24), W1=np.zeros((24, 24)),
             b1=np.zeros(24), W2=np.zeros((1, 24)), b2=np.zeros(1))   # 2^24 x 2^24 transitions


def test_refusal_names_only_the_environment_variable(call, tmp_path, monkeypatch):
    monkeypatch.delenv('SBN_EXACT_MAX_BYTES', raising=False)
    _big(tmp_path / 'big.npz')
    r = call([str(tmp_path / 'big.npz')])
    assert r.returncode == 2, r.stderr
    assert 'too large to enumerate' in r.stderr and 'SBN_EXACT_MAX_BYTES' in r.stderr, r.stderr
    assert 'max_bytes' not in r.stderr, r.stderr
    # the library's own refusal, after the command, still offers max_bytes=
    with pytest.raises(ValueError, match="set max_bytes= or SBN_EXACT_MAX_BYTES to change it"):
        check_enumerable(SBNMLP([2, 24, 1]), 200)


def test_help_states_the_size_limit(capsys):
    with pytest.raises(SystemExit): gradeval_cli(['--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'small enough to enumerate exactly' in out and 'SBN_EXACT_MAX_BYTES' in out, out
