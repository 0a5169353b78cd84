"Review s62 G (of this session's fixes): a stored learning-rate search is matched on what its specs mean, as its runs are (a respelled estimator retrained every trial, and run_comparison refused its own runs); a prediction is undefined only where it is (an infinite logistic output is a clear sign; a cross-entropy row with one +inf logit has an argmax); the integer-input hint names the network's dtype."
import math
import pytest, torch
from sbn_estimators.train import TrainConfig, _correct
from sbn_estimators.lr_search import run_comparison, search_lr
from sbn_estimators.sbn import SBNMLP

BASE = TrainConfig(data='digits', model='sbn_mlp:width=16', epochs=1, n_train=128, val=64, n_test=64)


def _stub(calls):
    def stub(cfg, out=None, callbacks=(), progress=False, resume=False):
        calls.append(cfg.lr)
        for cb in callbacks: cb(1, dict(epoch=1, val_acc={1e-3: .5, 1e-2: .9}[cfg.lr], val_loss=0.))
        return dict(test_acc=.9, test_ens_acc=.9, test_det_acc=.9, seconds_per_epoch=1.)
    return stub


def test_a_respelled_search_is_read_back(tmp_path):
    calls = []
    search_lr(BASE.replace(estimator='reste: o = 3, t=2'), (1e-3, 1e-2), out=tmp_path / 's', train_fn=_stub(calls))
    assert len(calls) == 2
    calls.clear()
    assert search_lr(BASE.replace(estimator='reste:t=2.0'), (1e-3, 1e-2), out=tmp_path / 's', train_fn=_stub(calls))['lr'] == 1e-2
    assert calls == []   # the stored trials, not trained again
    search_lr(BASE.replace(estimator='reste:t=3'), (1e-3, 1e-2), out=tmp_path / 's', train_fn=_stub(calls))
    assert len(calls) == 2   # another estimator: searched


def test_run_comparison_reads_its_runs_back_under_another_spelling(tmp_path):
    calls = []
    run_comparison(BASE, {'r': {'estimator': 'reste: o = 3, t=2'}}, tmp_path / 'c', seeds=(0,), grid=(1e-3, 1e-2), train_fn=_stub(calls), log=None)
    calls.clear()
    rows = run_comparison(BASE, {'r': {'estimator': 'reste:t=2.0'}}, tmp_path / 'c', seeds=(0,), grid=(1e-3, 1e-2), train_fn=_stub(calls), log=None)
    assert calls == [] and rows[0]['lr'] == 1e-2


def test_undefined_predictions_only():
    inf, nan = math.inf, math.nan
    eta, y = torch.tensor([[inf], [-inf], [3.], [nan]]), torch.tensor([[1.], [-1.], [1.], [1.]])
    for loss in ('logistic', 'prob'):
        c = _correct(eta if loss == 'logistic' else torch.sigmoid(eta), y, loss)
        assert c[:3].tolist() == [1., 1., 1.] and math.isnan(c[3])
    ce = _correct(torch.tensor([[inf, 0.], [inf, inf], [nan, 1.], [-inf, 2.]]), torch.tensor([0, 0, 1, 1]), 'cross_entropy')
    assert ce[0] == 1 and math.isnan(ce[1]) and math.isnan(ce[2]) and ce[3] == 1


def test_the_integer_input_hint_names_the_networks_dtype():
    with pytest.raises(ValueError, match=r"e.g. load_data\(cfg\).input\(x, torch.float64\)"):
        SBNMLP([4, 3, 2], dtype=torch.float64)(torch.zeros(2, 4, dtype=torch.uint8))
