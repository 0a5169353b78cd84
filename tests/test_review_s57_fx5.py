"Review s57 (fx5): sbn-train's help on cos's seed and val, lr_factor's argument checks, an optimizer step that overflows float32, --download with --smoke, the smoke note on rank 0 only."
import numpy as np
import pytest
import torch
from sbn_estimators.train import Diverged, TrainConfig, _parser, load_data, lr_factor, smoke_data, train, train_cli

def _help(name):
    return next(a.help for a in _parser()._actions if f"--{name.replace('_', '-')}" in a.option_strings)

def test_help_states_cos_rules():
    assert 'cos: in 0..2**31-1, except 2**30-1' in _help('seed')
    assert 'cos: an even count' in _help('val')
    assert 'for cos all of them' in _help('n_train')
    # the rules the help states are the loader's
    for seed in (2**31, 2**30 - 1):
        with pytest.raises(ValueError, match='seed'): load_data(TrainConfig(data='cos', seed=seed))
    assert len(load_data(TrainConfig(data='cos', seed=2**31 - 1)).splits['train'][1]) == 1000
    with pytest.raises(ValueError, match='even count'): load_data(TrainConfig(data='cos', val=5))
    assert len(load_data(TrainConfig(data='cos', val=6, n_train=1000)).splits['train'][1]) == 1000   # not reduced by val

@pytest.mark.parametrize('args,msg', [((-1, 10, 0), 'step must be an integer >= 0, got -1'),
                                      ((1.5, 10, 0), 'step must be an integer >= 0, got 1.5'),
                                      ((True, 10, 0), 'step must be an integer >= 0, got True'),
                                      ((0, 0, 0), 'total must be an integer >= 1, got 0'),
                                      ((0, 10, -1), 'warmup must be an integer >= 0, got -1')])
def test_lr_factor_checks(args, msg):
    for schedule in ('cosine', 'constant'):
        with pytest.raises(ValueError) as e: lr_factor(*args, schedule)
        assert msg in str(e.value)

def test_lr_factor_accepts():
    assert lr_factor(np.int64(0), np.int64(10), np.int64(2), 'cosine') == 0.5
    assert lr_factor(0, 1, 0, 'cosine') == 1.0 and lr_factor(15, 10, 0, 'cosine') == pytest.approx(0.)
    assert lr_factor(1, 2, 10, 'cosine') == 0.2   # a smoke run's stage shorter than the warm-up: the ramp goes on (review s57)

SMALL = dict(model='sbn_mlp:width=8', epochs=1, eval_samples=1, device='cpu')

def test_adam_step_overflow_is_a_divergence(tmp_path, capsys):
    with pytest.raises(Diverged, match=r"training diverged at epoch 1, step 1: the optimizer's step size does not fit in float32 \(lr 4e\+37; Adam's is lr / \(1 - beta1\) at its first step\); try a smaller --lr"):
        train(TrainConfig(**SMALL, lr=4e37), progress=False)
    with pytest.raises(SystemExit) as e:
        train_cli(['--threads', '1', '--model', 'sbn_mlp:width=8', '--eval-samples', '1', '--lr', '4e37', '--epochs', '1', '--quiet', '--out', str(tmp_path / 'r')])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.count('\n') == 1 and "sbn-train: error: training diverged at epoch 1, step 1" in err, err

@pytest.mark.parametrize('opt', ['bop', 'mirror_descent'])
def test_binary_optimizers_overflow_is_a_divergence(opt, tmp_path):
    # their real-valued groups step with Adam
    cfg = TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), model='fmnist_bnn_conv', optimizer=opt, lr=1e38, epochs=1, batch_size=8, eval_samples=1, device='cpu')
    with pytest.raises(Diverged, match="the optimizer's step size does not fit in float32"): train(cfg, smoke=True, progress=False)

@pytest.mark.parametrize('flag', ['--smoke', '--summary'])
def test_download_refused_with_smoke_and_summary(flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as e: train_cli([flag, '--data', 'cifar10', '--data-dir', str(tmp_path), '--download'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and f"--download fetches the dataset's files, and {flag} " in err and 'drop --download' in err, err
    cfg = tmp_path / 'c.json'; cfg.write_text('{"data": "cifar10", "download": true}')   # a hand-written file's
    with pytest.raises(SystemExit) as e: train_cli([flag, '--config', str(cfg)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"download true of config file {cfg} fetches" in err and 'drop download from the file' in err, err

def test_smoke_download_off_accepted(tmp_path, capsys):
    train_cli(['--smoke', '--threads', '1', '--data', 'fashion_mnist', '--data-dir', str(tmp_path), '--no-download', '--model', 'sbn_mlp:width=8', '--eval-samples', '1'])
    assert 'smoke run of' in capsys.readouterr().out

@pytest.mark.parametrize('rank', [0, 1])
def test_smoke_note_on_rank_0_only(rank, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    monkeypatch.setattr(torch.distributed, 'get_rank', lambda group=None: rank)
    d = smoke_data(TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), model='sbn_mlp:width=8', batch_size=8))
    assert len(d.splits['train'][1]) == 16
    err = capsys.readouterr().err
    assert ('note: no fashion_mnist files at' in err) == (rank == 0), err
