"Review s53 R1: the trainer's recipes against the papers' set-ups (nbs/14_train.ipynb `RECIPES`, `_sgd`, `OPTIMIZER_PARAMS`)."
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.models import get_model
from sbn_estimators.train import RECIPES, OPTIMIZER_PARAMS, TrainConfig, make_optimizer, train_cli

torch.set_num_threads(1)
RESTE = [n for n in RECIPES if n.startswith('reste_')]

def test_psa_concrete_is_the_papers_temperature():
    "The PSA paper's CIFAR Concrete is tanh((a - Z)/T), T = 1: tau = 0.5 in the {0,1} parameterisation."
    r = RECIPES['psa_cifar_concrete']
    assert estimator(r.config['estimator']).tau == 0.5 and 'tau = 0.5' in r.description

def test_mean_field_recipe_says_ours():
    assert 'ours' in RECIPES['psa_cifar_mean_field'].description and 'tanh(a/2)' in RECIPES['psa_cifar_mean_field'].description

@pytest.mark.parametrize('name', ['binaryduo_digits', 'binaryduo_digits_baseline'])
def test_digits_recipes_say_ours(name): assert RECIPES[name].description.startswith('ours')

def test_sgd_lists_nesterov(): assert OPTIMIZER_PARAMS['sgd'] == {'nesterov': None}

def _sgd_defaults(spec, momentum=0.9):
    cfg = TrainConfig(model='sbn_mlp:width=8', optimizer=spec, momentum=momentum)
    return make_optimizer(get_model('sbn_mlp:width=8', 'st', in_shape=(64,)), cfg, 100).defaults

@pytest.mark.parametrize('name', RESTE)
def test_reste_recipes_use_plain_momentum(name):
    "ReSTE's main.py: SGD with momentum 0.9, no Nesterov."
    cfg = TrainConfig(**{**RECIPES[name].config, 'data_dir': '/nowhere'})
    net = get_model(cfg.model, cfg.estimator, in_shape=(3, 32, 32))
    d = make_optimizer(net, cfg, 100).defaults
    assert (d['momentum'], d['nesterov']) == (0.9, False)
    assert 'validation' in RECIPES[name].description

@pytest.mark.parametrize('spec,momentum,want', [('sgd', 0.9, True), ('sgd', 0., False), ('sgd:nesterov=None', 0.9, True),
                                                 ('sgd:nesterov=false', 0.9, False), ('sgd:nesterov=FALSE', 0., False), ('sgd:nesterov=true', 0.5, True)])
def test_nesterov_parameter(spec, momentum, want):
    assert _sgd_defaults(spec, momentum)['nesterov'] is want

@pytest.mark.parametrize('spec,momentum,msg', [('sgd:nesterov=maybe', 0.9, "optimizer 'sgd:nesterov=maybe': nesterov must be true, false or None"),
                                                ('sgd:nesterov=1', 0.9, 'nesterov must be true, false or None .*got 1'),
                                                ('sgd:nesterov=true', 0., 'nesterov=true needs momentum > 0'),
                                                ('sgd:nesterv=true', 0.9, "optimizer 'sgd' has no parameter nesterv; valid parameters: nesterov=None")])
def test_nesterov_refusals(spec, momentum, msg):
    with pytest.raises(ValueError, match=msg): TrainConfig(optimizer=spec, momentum=momentum)

def test_nesterov_refused_by_the_command(capsys):
    with pytest.raises(SystemExit) as e: train_cli(['--optimizer', 'sgd:nesterov=true', '--momentum', '0', '--smoke', '--threads', '1'])
    assert e.value.code == 2 and 'nesterov=true needs momentum > 0' in capsys.readouterr().err

@pytest.mark.parametrize('name,est', [('psa_cifar_adf', 'adf'), ('psa_cifar_local_reparam', 'local_reparam')])
def test_psa_adf_and_local_reparam_recipes(name, est, tmp_path, monkeypatch, capsys):
    "The PSA paper's ADF and LocalReparam runs: like the other psa_cifar_* recipes, and they build and take a step."
    r = RECIPES[name]
    assert r.config == {**RECIPES['psa_cifar_st'].config, 'estimator': est} and r.description.startswith('PSA paper')
    monkeypatch.chdir(tmp_path)
    train_cli(['--recipe', name, '--smoke', '--batch-size', '2', '--eval-samples', '1', '--threads', '1'])
    assert f'psa_allconv / {est}' in capsys.readouterr().out


@pytest.mark.parametrize('name', ['binaryduo_vgg7_baseline', 'binaryduo_vgg7_cifar', 'binaryduo_resnet18_cifar'])
def test_binaryduo_cifar_recipes_state_their_data_departures(name):
    "The reference normalises with CIFAR-10's statistics, pads with the mean colour and trains on all 50 000: the recipes do not, and say so."
    from sbn_estimators.train import RECIPES
    r = RECIPES[name]
    assert not r.config.get('normalize') and r.config['val'] == 5000
    assert "CIFAR-10's mean/std" in r.description and '5000 images held out' in r.description
