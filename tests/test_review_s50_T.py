"Review s50 (helper T): every split's values checked before a run; the size line names the examples a run leaves out; build's hint names only the SBN models that fit the data."
import math, subprocess, sys
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators.data import DATASETS, Data

def _bad_test_labels(seed=0, val=0.1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 256, (300, 16), generator=g, dtype=torch.uint8); y = torch.randint(0, 10, (300,), generator=g)
    yt = y[200:].clone(); yt[0] = 10   # a test label out of range
    return Data('badtest', {'train': (X[:150], y[:150]), 'val': (X[150:200], y[150:200]), 'test': (X[200:], yt)}, n_out=10,
                transform=lambda X, dtype=torch.float32: X.to(dtype) / 255)

def _nan_in(split):
    def make(seed=0, val=0.1):
        X = torch.rand(300, 16, generator=torch.Generator().manual_seed(seed)); y = torch.randint(0, 10, (300,))
        s = {'train': (X[:150], y[:150]), 'val': (X[150:200], y[150:200]), 'test': (X[200:], y[200:])}
        Xs = s[split][0].clone(); Xs[3, 2] = math.nan; s[split] = (Xs, s[split][1])
        return Data(f'nan{split}', s, n_out=10)
    return make

@pytest.mark.parametrize('name, make, message', [
    ('badtest', _bad_test_labels, r"data 'badtest' \(test split\): class indices must be in 0\.\.9"),
    ('nanval', _nan_in('val'), r"data 'nanval' \(validation split, inputs 0\.\.49\) has 1 non-finite"),
    ('nantest', _nan_in('test'), r"data 'nantest' \(test split, inputs 0\.\.99\) has 1 non-finite")])
def test_validation_and_test_splits_checked_before_the_run(tmp_path, monkeypatch, name, make, message):
    monkeypatch.setitem(DATASETS, name, make)
    out = tmp_path / 'run'
    with pytest.raises(ValueError, match=message):
        T.train(T.TrainConfig(data=name, model='sbn_mlp:width=8', epochs=2, eval_samples=2), out=out, progress=False)
    assert not out.exists()   # refused before anything was written

def test_check_values_names_the_test_split():
    data = T.load_data(T.TrainConfig(data='digits'))
    bad = T.Data(data.name, {**data.splits, 'test': (data.splits['test'][0], data.splits['test'][1] + 100)}, data.n_out, data.loss, transform=data.transform)
    with pytest.raises(ValueError, match=r"\(test split\)"):
        T._check_train_values(bad, T.SBNMLP([64, 8, 10], loss='cross_entropy', dtype=torch.float32))

def test_size_line_says_what_each_epoch_leaves_out(capsys):
    T.train(T.TrainConfig(data='digits', n_train=1000, batch_size=128, epochs=1, eval_samples=2, model='sbn_mlp:width=8'), progress=True)
    err = capsys.readouterr().err
    assert "1000 training examples (7 steps of 128 per epoch, a different 104 left out each epoch; " in err, err
    T.train(T.TrainConfig(data='digits', n_train=1024, batch_size=128, epochs=1, eval_samples=2, model='sbn_mlp:width=8'), progress=True)
    err = capsys.readouterr().err
    assert "1024 training examples (8 steps of 128 per epoch; " in err and 'left out' not in err, err

def test_build_hint_names_only_models_that_fit():
    with pytest.raises(ValueError) as e:
        T.build(T.TrainConfig(data='cos', model='resnet20'), T.get_data('cos'))
    msg = str(e.value)
    assert 'logistic loss' in msg and '(sbn_mlp)' in msg and 'psa_allconv' not in msg and 'fmnist_sbn_conv' not in msg, msg

def test_build_hint_leaves_the_random_state_alone():
    torch.manual_seed(3); want = torch.rand(3)
    torch.manual_seed(3)
    with pytest.raises(ValueError): T.build(T.TrainConfig(data='cos', model='resnet20'), T.get_data('cos'))
    assert torch.equal(torch.rand(3), want)
