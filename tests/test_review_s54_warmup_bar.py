"Session 54: a long `--warmup` shows on the estimator's progress bar (its calls count before the draws), and the estimator's line says how long it took."
import pytest
from sbn_estimators import cli
from sbn_estimators.gradeval import gradient_report
from sbn_estimators.sbn import SBNMLP, cos_data


class Bar:
    "Records what a tqdm bar is told."
    made = []
    def __init__(self, total=None, desc=None, disable=False, **kw): self.total, self.desc, self.n = total, desc, 0; Bar.made.append(self)
    def update(self, n=1): self.n += n
    def __enter__(self): return self
    def __exit__(self, *a): pass


def test_warmup_counts_on_the_bar_and_its_time_is_on_the_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, 'progress', Bar); Bar.made = []
    X, Y = cos_data(8, seed=0)
    net = SBNMLP([X.shape[1], 3, 1])
    gradient_report(net, X, Y, 'reinforce:baseline=ema,st', samples=10, chunk=5, warmup=7, Ms=[1])
    (ema, st) = Bar.made
    assert (ema.desc, ema.total, ema.n) == ('reinforce:baseline=ema', 17, 17)   # 7 warm-up calls, then 10 draws
    assert (st.desc, st.total, st.n) == ('st', 10, 10)                          # st learns nothing: no warm-up
    lines = capsys.readouterr().err.splitlines()
    assert 'warmup_seconds' in lines[0] and 'warmup_seconds' not in lines[1]
