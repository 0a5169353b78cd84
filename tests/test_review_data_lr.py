"A review of data and lr_search: argument checks before reading files, seeds whose data really differ, inputs computed in their dtype, staged search trials, damaged records, plot_comparison's metrics."
import dataclasses, json, math, re
from pathlib import Path
import numpy as np
import pytest
import torch
from sbn_estimators import data as D
from sbn_estimators.data import (cifar10_data, cos_dataset, digits_data, fashion_mnist_data, flip_crop, get_data, idx_data,
                                 train_val_split, write_fake_cifar10, write_idx, IDX_STEMS)
from sbn_estimators.lr_search import plot_comparison, run_comparison, search_lr
from sbn_estimators.train import TrainConfig

torch.set_num_threads(1)
CFG = TrainConfig(data='digits', model='sbn_mlp:width=16', device='cpu')


def stub(log=None):
    "A trainer that trains nothing: each epoch of the plan reports the rate as its accuracy."
    def train_fn(cfg, out=None, callbacks=(), progress=False, **kw):
        n = sum(st['epochs'] for st in cfg.plan())
        if log is not None: log.append((cfg.lr, cfg.seed, n))
        for e in range(n):
            for cb in callbacks: cb(e + 1, dict(epoch=e + 1, train_loss=1., val_loss=1., val_acc=cfg.lr, val_ens_acc=cfg.lr, val_det_acc=cfg.lr))
        return dict(test_loss=1., test_acc=.5, test_ens_acc=.5, test_det_acc=.5, seconds_per_epoch=1.)
    return train_fn


def fake_idx(folder, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (n_train, n_train, n_test, n_test)):
        write_idx(Path(folder) / stem, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if 'images' in stem else rng.integers(0, 10, n).astype(np.uint8))
    return folder


# 1. search_lr on a staged plan: each trial records the epochs it trained; old records still load

STAGED = dataclasses.replace(CFG, stages=[{'name': 'sine', 'epochs': 2}, {'name': 'square', 'epochs': 1}])

def test_staged_trials_record_the_epochs_they_trained(tmp_path):
    log = []
    rec = search_lr(STAGED, (1e-3, 1e-2), epochs=1, out=tmp_path, train_fn=stub(log))
    assert [n for _, _, n in log] == [3, 3]                          # the whole plan, as before
    assert rec['epochs'] == 1 and [t['epochs'] for t in rec['trials']] == [3, 3]
    assert [t['epochs'] for t in json.loads((tmp_path / 'lr_search.json').read_text())['trials']] == [3, 3]
    assert [t['epochs'] for t in search_lr(CFG, (1e-3, 1e-2), epochs=2, train_fn=stub())['trials']] == [2, 2]


def test_a_record_without_trial_epochs_still_loads(tmp_path):
    "A record the previous code wrote (its trials have no `epochs`) is reused, not retrained, and read with the plan's total."
    rec = search_lr(STAGED, (1e-3, 1e-2), epochs=1, out=tmp_path, train_fn=stub())
    old = json.loads((tmp_path / 'lr_search.json').read_text())
    for t in old['trials']: del t['epochs']
    (tmp_path / 'lr_search.json').write_text(json.dumps(old))
    def no_training(*a, **k): raise AssertionError('retrained')
    again = search_lr(STAGED, (1e-3, 1e-2), epochs=1, out=tmp_path, train_fn=no_training)
    assert again == rec
    del old['lr']; old['trials'] = old['trials'][:1]                  # an interrupted old search: the rest is trained
    (tmp_path / 'lr_search.json').write_text(json.dumps(old))
    log = []
    assert search_lr(STAGED, (1e-3, 1e-2), epochs=1, out=tmp_path, train_fn=stub(log)) == rec and [lr for lr, _, _ in log] == [1e-2]


def test_search_epochs_that_do_not_fit_the_configuration_are_refused_first():
    warm = dataclasses.replace(CFG, warmup_epochs=2, epochs=5)
    with pytest.raises(ValueError, match=re.escape("epochs=1 (search_lr's epochs, per trial) does not fit cfg: warmup_epochs (2) must be")):
        search_lr(warm, (1e-3, 1e-2), epochs=1, train_fn=stub())
    assert search_lr(warm, (1e-3, 1e-2), epochs=3, train_fn=stub())['lr'] == 1e-2
    assert search_lr(warm, (1e-3,), epochs=1, train_fn=stub())['lr'] == 1e-3     # one rate: no trial, nothing to fit


# 2. run_comparison refuses lr and seed in a method's fields

@pytest.mark.parametrize('fields', [{'lr': 1e-5}, {'seed': 7}, {'lr': 1e-5, 'seed': 7}])
def test_run_comparison_refuses_lr_and_seed_in_methods(tmp_path, fields):
    with pytest.raises(ValueError, match=re.escape("methods['fixed'] sets") + ".*" + re.escape("grids={'fixed': (lr,)}") + ".*seeds="):
        run_comparison(CFG, {'fixed': fields}, tmp_path, train_fn=stub(), log=None)
    assert not any(tmp_path.iterdir())


# 4. plot_comparison's metrics

ROWS = [dict(method='a', seed=s, curve=[dict(epoch=1, stage='train', train_loss=1., val_acc=.5), dict(epoch=2, stage='train', train_loss=.5, val_acc=.6)])
        for s in (0, 1)]

def test_plot_comparison_takes_one_name_and_refuses_what_it_cannot_plot():
    import matplotlib.pyplot as plt
    fig = plot_comparison(ROWS, 'val_acc')
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == 'validation accuracy, expected (%)'; plt.close(fig)
    with pytest.raises(ValueError, match='metrics must name at least one per-epoch column'): plot_comparison(ROWS, ())
    with pytest.raises(ValueError, match=re.escape("metrics: 'val_f1' is not a per-epoch column of every run; available: train_loss, val_acc")):
        plot_comparison(ROWS, ('train_loss', 'val_f1'))
    with pytest.raises(ValueError, match='metrics must be a per-epoch column or a list of them'): plot_comparison(ROWS, 3)
    plt.close('all')


# 5. damaged records name their file

@pytest.mark.parametrize('text', ['{"config": ', '[1, 2]', '\xff'])
def test_a_damaged_search_record_names_its_file(tmp_path, text):
    (tmp_path / 'lr_search.json').write_bytes(text.encode('latin-1'))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'lr_search.json'} is damaged (") + r".*\); delete it"):
        search_lr(CFG, (1e-3, 1e-2), out=tmp_path, train_fn=stub())


def test_a_search_record_with_broken_trials_names_its_file(tmp_path):
    rec = search_lr(CFG, (1e-3, 1e-2), out=tmp_path, train_fn=stub())
    for trials in ('x', [{'score': 1.}], [*rec['trials'], *rec['trials']]):
        (tmp_path / 'lr_search.json').write_text(json.dumps(dict(rec, trials=trials)))
        with pytest.raises(ValueError, match='lr_search.json is damaged'): search_lr(CFG, (1e-3, 1e-2), out=tmp_path, train_fn=stub())


@pytest.mark.parametrize('text', ['{', '"a run"', '{"method": "st"}'])
def test_a_damaged_summary_names_its_file(tmp_path, text):
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3,), train_fn=stub(), log=None)
    path = tmp_path / 'st' / 'seed0' / 'summary.json'
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path} is damaged (") + r".*\); delete it"):
        run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3,), train_fn=stub(), log=None)


# 6. tensor grids and duplicated rates

def test_grids_of_tensors_are_rates():
    g = torch.tensor([1e-3, 1e-2], dtype=torch.float64)
    assert search_lr(CFG, g, train_fn=stub())['grid'] == [1e-3, 1e-2]
    assert search_lr(CFG, list(g), train_fn=stub())['lr'] == 1e-2                         # 0-d tensors
    with pytest.raises(ValueError, match='grid must be a list of learning rates'): search_lr(CFG, torch.tensor(1e-3), train_fn=stub())
    with pytest.raises(ValueError, match='grid must be a list of learning rates'): search_lr(CFG, torch.ones(2, 2), train_fn=stub())


def test_a_rate_listed_twice_is_refused_before_training():
    log = []
    with pytest.raises(ValueError, match=re.escape('grid lists 0.001 more than once')):
        search_lr(CFG, (1e-3, 1e-2, 1e-3), train_fn=stub(log))
    assert log == []


# 7. seeds: only those whose data differ

def test_split_seeds_beyond_32_bits_are_refused():
    for f in (lambda s: train_val_split(100, 0.1, seed=s), lambda s: digits_data(seed=s), lambda s: get_data('digits', seed=s)):
        with pytest.raises(ValueError, match=re.escape(f'seed must be an integer in 0..{2**32 - 1}, got {2**32}')): f(2**32)
    assert not torch.equal(digits_data(seed=0).splits['val'][1], digits_data(seed=2**32 - 1).splits['val'][1])


def test_cos_seeds_beyond_31_bits_are_refused():
    for s in (2**31, 5 + 2**31, 2**63 - 2):
        with pytest.raises(ValueError, match=re.escape(f'seed must be an integer in 0..{2**31 - 1}, got {s}')): cos_dataset(seed=s)
    with pytest.raises(ValueError, match='its training draw would be the test draw'): cos_dataset(seed=2**30 - 1)
    a, b = (cos_dataset(seed=s, n_per_class=10, val=4) for s in (0, 2**31 - 1))          # the range's ends draw different data
    for k in ('train', 'val'): assert not torch.equal(a.splits[k][0], b.splits[k][0])


# 8. train_val_split's n and a negative fraction

@pytest.mark.parametrize('n', [10.0, '10', True, -1, None])
def test_train_val_split_checks_n(n):
    with pytest.raises(ValueError, match=re.escape(f'n must be a non-negative integer (the number of examples), got {n!r}')): train_val_split(n, 0.1)


@pytest.mark.parametrize('val', [-0.001, -1, -0.5])
def test_a_negative_val_is_refused_as_such(val):
    with pytest.raises(ValueError, match=re.escape(f'val must be a fraction in [0, 1) or a whole number of examples (a count, whatever its type: 5000.0 is 5000), got {val!r}')): train_val_split(100, val)
    assert train_val_split(np.int64(100), 0.1)[1].shape == (10,)


# 9. cifar10_data and idx_data check their arguments before reading

@pytest.mark.parametrize('kw, msg', [(dict(seed=-1), 'seed must be an integer'), (dict(seed=2**32), 'seed must be an integer'),
                                     (dict(val=-3), 'val must be a fraction'), (dict(val='0.1'), 'val must be a fraction')])
def test_cifar10_checks_arguments_before_reading(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg): cifar10_data(tmp_path / 'nowhere', **kw)   # no FileNotFoundError: checked first


@pytest.mark.parametrize('kw, msg', [(dict(seed=2**40), 'seed must be an integer'), (dict(val=math.nan), 'val must be a fraction'),
                                     (dict(n_train=0), re.escape('n_train must be a positive integer (None: all), got 0')),
                                     (dict(n_test=2.5), re.escape('n_test must be a positive integer (None: all), got 2.5'))])
def test_idx_data_checks_arguments_before_reading(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg): idx_data('mnist', root=tmp_path / 'nowhere', **kw)


def test_idx_subsets_are_checked_in_two_steps(tmp_path):
    "Their kind before the files are read, their size (which needs the files) after."
    fake_idx(tmp_path)
    with pytest.raises(ValueError, match=re.escape('n_train must be a positive integer (None: all), got 0')): fashion_mnist_data(root=tmp_path, val=10, verify=False, n_train=0)
    with pytest.raises(ValueError, match=re.escape('n_train must be in 1..20')): fashion_mnist_data(root=tmp_path, val=10, verify=False, n_train=21)
    with pytest.raises(ValueError, match=re.escape('n_test must be in 1..10')): fashion_mnist_data(root=tmp_path, val=10, verify=False, n_test=11)


# 10. float64 inputs computed in float64, float32 ones as before

def test_float64_inputs_are_computed_in_float64(tmp_path):
    fake_idx(tmp_path)
    d = fashion_mnist_data(root=tmp_path, val=10, verify=False)
    X = d.splits['train'][0]
    assert torch.allclose(d.input(X, torch.float64), X.double() * 2 / 255 - 1, rtol=0, atol=1e-15)
    assert torch.equal(d.input(X), X.float() * (2 / 255) - 1)                              # float32: as before, bit for bit
    u = fashion_mnist_data(root=tmp_path, val=10, verify=False, scale='unit')
    assert torch.allclose(u.input(X, torch.float64), X.double() / 255, rtol=0, atol=1e-15)
    write_fake_cifar10(tmp_path, n_per_batch=4)
    c = cifar10_data(tmp_path, val=4, normalize=True)
    Xc = c.splits['train'][0]
    mean, std = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1) for v in (D.CIFAR_MEAN, D.CIFAR_STD))
    assert torch.allclose(c.input(Xc, torch.float64), (Xc.double() / 255 - mean) / std, rtol=0, atol=1e-14)
    torch.manual_seed(0); aug = c.input(torch.zeros(64, 3, 32, 32, dtype=torch.uint8), torch.float64, train=True)
    assert torch.equal(aug.unique(), (-mean / std).flatten().sort().values)               # the padding too: black in float64
    assert torch.equal(c.input(Xc), (Xc.float() / 255 - mean.float()) / std.float())       # float32: as before


# 11. Data.input's train, flip_crop's fill

def test_input_train_must_be_a_bool():
    d = digits_data()
    for v in ('no', 1, None):
        with pytest.raises(ValueError, match=re.escape(f'train must be True or False, got {v!r}')): d.input(d.splits['train'][0][:2], train=v)


@pytest.mark.parametrize('x, fill, msg', [
    (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), -1., "fill must be a value that x's dtype torch.uint8 holds (integers in 0..255), got -1.0"),
    (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 2.5, "integers in 0..255"),
    (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), 256, "integers in 0..255"),
    (torch.zeros(2, 3, 4, 4), math.nan, "fill must be a value that x's dtype torch.float32 holds (finite numbers"),
    (torch.zeros(2, 3, 4, 4), torch.tensor([0., math.inf, 0.]).view(3, 1, 1), "got [0.0, inf, 0.0]"),
    (torch.zeros(2, 3, 4, 4), 1e39, "finite numbers of at most 3.403e+38"),
    (torch.zeros(2, 3, 4, 4), 'black', "fill must be a number or a tensor [C, 1, 1] = [3, 1, 1] of real numbers, got 'black'"),
    (torch.zeros(2, 3, 4, 4), True, "fill must be a number"),
])
def test_flip_crop_checks_fill(x, fill, msg):
    with pytest.raises(ValueError, match=re.escape(msg)): flip_crop(x, fill=fill)


def test_flip_crop_pads_integer_images_with_an_integer_fill_only():
    with pytest.raises(ValueError, match='integers in 0..255'): flip_crop(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), fill=-1)
    torch.manual_seed(0)
    out = flip_crop(torch.zeros(32, 1, 4, 4, dtype=torch.uint8), pad=2, fill=7)
    assert out.dtype == torch.uint8 and out.unique().tolist() == [0, 7]
