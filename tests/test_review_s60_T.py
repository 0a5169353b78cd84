"Review s60 (fix T), nbs/14_train.ipynb: `_samples_nothing` is a whitelist (networks that sample are sampled K times); sbn-train's lines for a network that samples nothing; a checkpoint without model weights, one that cannot be read, and a folder named like a checkpoint; `load_run` and `evaluate_run` load last.pt by default; bop and bayesbinn refuse binarizers that scale or sample each weight's gradient; `TrainConfig(optimizer='bayesbinn')` leaves the random state alone."
import builtins, io, json, textwrap
import pytest, torch
from torch import nn
from conftest import sbn_train
from sbn_estimators.train import (TrainConfig, train, load_run, evaluate_run, evaluate, load_checkpoint, save_checkpoint, build, smoke_data,
                                  make_optimizer, config_from_args, _parser, _samples_nothing, RECIPES, _stage_networks)
from sbn_estimators.models import get_model, MODELS
from sbn_estimators.estimators import estimator
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.data import digits_data

torch.set_num_threads(1)
SMALL = dict(epochs=1, model='sbn_mlp:width=16', eval_samples=2, n_train=64, val=32, n_test=64)
FAST = ['--epochs', '1', '--n-train', '64', '--val', '32', '--n-test', '64', '--threads', '1', '--quiet']


# 1. _samples_nothing: a whitelist

def _noisy_binarize(w): return torch.where(torch.rand_like(w) < torch.sigmoid(w), 1., -1.) + (w - w.detach())

def _sampling_networks():
    torch.manual_seed(0)
    st = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), estimator('st'), nn.Linear(64, 10))   # a local estimator as an activation: it samples
    nested = nn.Sequential(get_model('sbn_mlp', estimator('st'), in_shape=(64,), n_out=10))   # an SBN model one level down
    fn = nn.Sequential(nn.Flatten(), BinaryWeightLinear(64, 10, binarize=_noisy_binarize))   # a binarizer that is a plain function drawing noise
    return dict(st=st, nested=nested, function_binarizer=fn)

@pytest.mark.parametrize('name', ['st', 'nested', 'function_binarizer'])
def test_networks_that_sample_are_sampled(name):
    net, d = _sampling_networks()[name], digits_data()
    assert not _samples_nothing(net)   # was: True, one forward copied K times
    calls = []
    h = net.register_forward_hook(lambda *a: calls.append(1))
    r = evaluate(net, d, 'test', samples=5, seed=0)
    h.remove()
    assert len(calls) == 6   # five samples and the deterministic pass (was: one)
    assert len({r['acc'], r['ens_acc'], r['det_acc']}) > 1

def test_binaryduo_nets_still_evaluate_with_one_forward():
    for recipe in ('binaryduo_vgg7_baseline', 'binaryduo_digits', 'binaryduo_vgg7_cifar', 'binaryduo_resnet18_cifar'):
        nets, _ = _stage_networks(TrainConfig(**RECIPES[recipe].config))
        assert all(map(_samples_nothing, nets)), recipe
    assert _samples_nothing(get_model('duo_mlp', 'clipped_st', in_shape=(64,)))
    assert _samples_nothing(nn.Sequential(nn.Flatten(), BinaryWeightLinear(64, 10), nn.ReLU()))   # default binarizer, deterministic=True

PLUGIN = '''
import math, torch.nn as nn
from sbn_estimators.models import register_model
from sbn_estimators.estimators import estimator
@register_model('st_seq_s60', 'layered', (None,), 'digits', "Linear, the st estimator as activation, Linear", needs_est=False)
def st_seq_s60(est=None, in_shape=(64,), n_out:int=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 32), estimator('st'), nn.Linear(32, n_out))
'''

def test_plugin_sequential_with_an_estimator_takes_eval_samples(tmp_path):
    p = tmp_path / 'plug_s60_t.py'; p.write_text(textwrap.dedent(PLUGIN))
    try:
        cfg = config_from_args(_parser().parse_args(['--plugins', str(p), '--model', 'st_seq_s60', '--eval-samples', '4', '--smoke']))   # was: refused
        assert cfg.eval_samples == 4
    finally: MODELS.pop('st_seq_s60', None)   # the registry is shared by the tests of this process


# 2. sbn-train's lines for networks that sample nothing

def test_final_lines_of_a_network_that_samples_nothing(capsys, tmp_path):
    stages = '[{"name": "coupled"}, {"name": "finetuned", "transform": "decouple", "epochs": 1, "lr": 0.001}]'
    code, out, err = sbn_train(capsys, *FAST, '--model', 'duo_mlp', '--estimator', 'clipped_st', '--stages', stages, '--out', str(tmp_path / 'd'))
    assert code == 0, err
    res = json.loads((tmp_path / 'd' / 'result.json').read_text())
    assert {'test_acc', 'test_ens_acc', 'test_det_acc', 'test_loss', 'test_det_loss'} <= set(res)   # keys unchanged
    assert f"test accuracy (one deterministic forward per example: the network samples nothing): {res['test_det_acc']:.4f}; test loss" in out
    assert 'test accuracy by stage (one deterministic forward per example): coupled' in out
    assert 'samples per example' not in out and 'ensemble' not in out

def test_final_line_of_a_sampling_network_unchanged(capsys, tmp_path):
    code, out, err = sbn_train(capsys, *FAST, '--model', 'sbn_mlp:width=16', '--eval-samples', '2', '--out', str(tmp_path / 's'))
    assert code == 0, err
    assert 'test accuracy (2 samples per example): expected' in out and 'ensemble' in out


# 3-6. checkpoints: no weights, unreadable, a folder; the default of load_run

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('s60T') / 'r'
    train(TrainConfig(**SMALL), out=out, progress=False)
    return out

def _copy(run, tmp_path):
    import shutil
    return shutil.copytree(run, tmp_path / 'r')

def test_a_checkpoint_without_weights_is_damaged(run, tmp_path):
    out = _copy(run, tmp_path)
    ck = load_checkpoint(out / 'last.pt'); del ck['model']
    save_checkpoint(out / 'last.pt', **{k: v for k, v in ck.items() if k != 'format'})
    for f in (lambda: load_run(out, 'last.pt'), lambda: evaluate_run(out, 'last.pt'), lambda: train(TrainConfig(**SMALL), out=out, resume=True, progress=False)):
        with pytest.raises(ValueError, match=r"last\.pt is damaged: it holds no model weights"): f()   # was: KeyError 'model' (load_run, evaluate_run)

def test_load_run_and_evaluate_run_default_to_last_pt(run):
    import inspect
    assert inspect.signature(load_run).parameters['checkpoint'].default == inspect.signature(evaluate_run).parameters['checkpoint'].default == 'last.pt'
    m, _ = load_run(run); last, _ = load_run(run, 'last.pt')
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), last.state_dict().values()))

def _deny(monkeypatch, name):
    "Reading a file called `name` raises PermissionError (tests run as root: chmod does not deny reads)."
    real = builtins.open
    def fake(file, *a, **k):
        if str(file).endswith(name): raise PermissionError(13, 'Permission denied', str(file))
        return real(file, *a, **k)
    monkeypatch.setattr(builtins, 'open', fake); monkeypatch.setattr(io, 'open', fake)   # open() and pathlib's reads

def test_an_unreadable_checkpoint_is_an_oserror(run, tmp_path, monkeypatch):
    out = _copy(run, tmp_path)
    _deny(monkeypatch, 'last.pt')
    with pytest.raises(PermissionError, match=r"cannot read .*last\.pt") as e: load_checkpoint(out / 'last.pt')   # was: ValueError "corrupted"
    assert 'corrupted' not in str(e.value)
    for f in (lambda: load_run(out, 'last.pt'), lambda: train(TrainConfig(**SMALL), out=out, resume=True, progress=False)):
        with pytest.raises(PermissionError) as e: f()
        assert 'copy' not in str(e.value) and 'delete' not in str(e.value)   # no repair advice for a file that could not be read

def test_an_unreadable_best_pt_is_not_to_be_deleted(run, tmp_path, monkeypatch):
    out = _copy(run, tmp_path)
    _deny(monkeypatch, 'best.pt')
    with pytest.raises(PermissionError, match=r"best\.pt"): train(TrainConfig(**SMALL), out=out, resume=True, progress=False)   # was: "delete it and resume"
    (out / 'last.pt').unlink()
    for f in out.iterdir():
        if f.name not in ('best.pt', 'config.json'): f.unlink()
    with pytest.raises(PermissionError, match=r"best\.pt"): train(TrainConfig(**SMALL), out=out, progress=False)   # was: started afresh over it
    assert (out / 'best.pt').is_file()

def test_a_folder_named_like_a_checkpoint(run, tmp_path, capsys):
    out = _copy(run, tmp_path)
    (out / 'last.pt').unlink(); (out / 'last.pt').mkdir()
    with pytest.raises(ValueError, match=r"last\.pt is a folder, not a checkpoint"): load_run(out, 'last.pt')
    with pytest.raises(ValueError, match=r"has no stage-x\.pt; its checkpoints: best\.pt$"): load_run(out, 'stage-x.pt')   # was: best.pt, last.pt
    with pytest.raises(IsADirectoryError, match=r"last\.pt is a folder, not a checkpoint") as e: train(TrainConfig(**SMALL), out=out, resume=True, progress=False)
    assert 'copy' not in str(e.value)   # was: copy best.pt over it


# 7. bop and bayesbinn refuse binarizers that scale or sample each weight's gradient

@pytest.mark.parametrize('opt', ['bop', 'bayesbinn'])
def test_bop_and_bayesbinn_refuse_reste_weights(opt):
    cfg = TrainConfig(data='cifar10', model='resnet20', optimizer=opt, lr=1e-3)
    model, _ = build(cfg, smoke_data(cfg))
    with pytest.raises(ValueError, match=rf"optimizer '{opt}' reads each latent .* binarizes with ReSTE.*the models built so: fmnist_bnn_conv"):
        make_optimizer(model, cfg, 100)
    make_optimizer(model, TrainConfig(data='cifar10', model='resnet20', optimizer='mirror_descent', lr=1e-3), 100)   # its logits: accepted

@pytest.mark.parametrize('opt', ['bop', 'bayesbinn'])
def test_bop_and_bayesbinn_refuse_a_sampling_binarizer_module(opt):
    net = nn.Sequential(nn.Flatten(), BinaryWeightLinear(64, 10, binarize=estimator('concrete')))
    with pytest.raises(ValueError, match=r"binarizes with Concrete"): make_optimizer(net, TrainConfig(optimizer=opt, lr=1e-3), 100)
    make_optimizer(nn.Sequential(BinaryWeightLinear(64, 10, binarize=nn.Identity())), TrainConfig(optimizer=opt, lr=1e-3), 100)   # the latent as it is

def test_no_binary_weights_message_names_what_bop_trains():
    with pytest.raises(ValueError, match=r"models with binary weights: fmnist_bnn_conv, resnet20.* \(bop trains only fmnist_bnn_conv"):
        make_optimizer(get_model('sbn_mlp', 'st', in_shape=(64,)), TrainConfig(optimizer='bop', lr=1e-3), 100)

@pytest.mark.parametrize('opt', ['bop', 'bayesbinn'])
def test_fmnist_bnn_conv_still_trains_with_them(opt, capsys):
    code, out, err = sbn_train(capsys, '--data', 'fashion_mnist', '--model', 'fmnist_bnn_conv', '--optimizer', opt, '--lr', '1e-3', '--smoke', '--threads', '1')
    assert code == 0, err


# 8. TrainConfig(optimizer='bayesbinn') leaves the global random state alone

def test_bayesbinn_config_draws_nothing():
    torch.manual_seed(0); want = torch.rand(1)
    torch.manual_seed(0); TrainConfig(optimizer='bayesbinn', lr=1e-3); got = torch.rand(1)   # was: BayesBiNN's initial draw advanced the caller's generator
    assert torch.equal(got, want)
