"Review s53 (Z1): 0.2.0 VGG-7 checkpoints (fc.bias) load; mismatched checkpoints name their keys; argument checks of the init functions and ResNetCifar."
import pytest, torch, torch.nn as nn, torch.nn.functional as F
from sbn_estimators import models
from sbn_estimators.models import VGG7, ResNetCifar, he_normal_, binaryduo_init_, get_model
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.estimators import estimator
from sbn_estimators.train import TrainConfig, _restore

act = lambda: BinaryActivation('clipped_st', eval_mode='det')   # deterministic in eval: outputs comparable

def test_vgg7_loads_a_biased_classifier():
    torch.manual_seed(0)
    old = VGG7(act, width=0.25)
    old.fc = nn.Linear(512, 10)   # version 0.2.0's classifier
    nn.init.normal_(old.fc.bias)
    sd = old.state_dict()
    assert 'fc.bias' in sd
    new = VGG7(act, width=0.25)
    new.load_state_dict(sd)
    assert new.fc.bias is not None and torch.equal(new.fc.bias, sd['fc.bias'])
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(new.eval()(x), old.eval()(x), rtol=0, atol=0)
    wrapped = nn.Sequential(VGG7(act, width=0.25))   # the hook reads the prefix
    wrapped.load_state_dict({'0.' + k: v for k, v in sd.items()})
    assert wrapped[0].fc.bias is not None

def test_restore_takes_a_020_duo_vgg7_checkpoint():
    cfg = TrainConfig(data='cifar10', model='duo_vgg7', estimator='clipped_st', optimizer='sgd', lr=0.1, epochs=2, val=0,
                      stages=[{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 1, 'lr': 0.01}])
    est = estimator('clipped_st')
    m = get_model(cfg.model, est, in_shape=(3, 32, 32))
    sd = dict(m.state_dict()); sd['fc.bias'] = torch.ones(10)
    m = _restore(cfg, m, est, {'model': sd, 'epoch': 1, 'stage': 0}, 'last.pt')
    assert torch.equal(m.fc.bias, torch.ones(10))

def test_restore_names_the_offending_keys():
    cfg = TrainConfig(model='sbn_mlp', estimator='arm')
    est = estimator('arm')
    m = nn.Sequential(nn.Linear(4, 3))
    sd = {'0.weight': torch.zeros(3, 4), 'zz_extra': torch.zeros(1)}
    with pytest.raises(ValueError, match=r"last.pt holds weights of a different model: .*missing keys: 0\.bias.*unexpected keys: zz_extra"):
        _restore(cfg, m, est, {'model': sd, 'epoch': 0}, 'last.pt')
    with pytest.raises(ValueError, match=r"0\.weight \(3, 5\) vs \(3, 4\)"):
        _restore(cfg, m, est, {'model': {'0.weight': torch.zeros(3, 5), '0.bias': torch.zeros(3)}, 'epoch': 0}, 'last.pt')

@pytest.mark.parametrize('f', [he_normal_, binaryduo_init_])
@pytest.mark.parametrize('bad', ['x', None, torch.zeros(2)])
def test_inits_refuse_a_non_module(f, bad):
    with pytest.raises(ValueError, match=rf"{f.__name__}: model must be an nn.Module"): f(bad)

def test_he_normal_refuses_a_bool_linear_std():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))
    for b in (True, False):
        with pytest.raises(ValueError, match=r"linear_std must be None or a finite number above 0, got " + str(b)): he_normal_(m, linear_std=b)
    he_normal_(m, linear_std=0.5)

@pytest.mark.parametrize('bad', ['no', None, 0, 1])
def test_resnet_refuses_a_non_bool_he_init(bad):
    with pytest.raises(ValueError, match=r"he_init must be True or False.*got " + repr(bad)): ResNetCifar(act, (1,), (4,), he_init=bad)
    ResNetCifar(act, (1,), (4,), he_init=False)


@pytest.mark.parametrize('build', [lambda: models.resnet20(lambda: BinaryActivation('st'), binary_weights='no'), lambda: models.vgg_small(lambda: BinaryActivation('st'), binary_weights=None)])
def test_binary_weights_must_be_a_bool(build):
    "A string or None was read by its truth value: 'no' built binary weights."
    with pytest.raises(ValueError, match='binary_weights'): build()


def test_he_init_is_cited():
    "The models initialised by `he_normal_` cite He et al. 2015, which the references list."
    from sbn_estimators.catalogue import REFERENCES, MODEL_REFS
    assert REFERENCES['he2015delving'][3] == 'https://arxiv.org/abs/1502.01852'
    for m in ('resnet20', 'vgg_small'): assert 'he2015delving' in MODEL_REFS[m], m


def test_vgg7_old_and_new_state_dicts_load_in_either_order():
    "The classifier keeps its weight tensor (an optimizer built before still trains it) and follows each state dict's bias."
    m = VGG7(lambda: BinaryActivation('st'), width=0.25)
    new_sd = {k: v.clone() for k, v in m.state_dict().items()}
    old_sd = {**new_sd, 'fc.bias': torch.randn(10)}
    w = m.fc.weight
    m.load_state_dict(old_sd)
    assert m.fc.weight is w and torch.equal(m.fc.bias, old_sd['fc.bias'])
    m.load_state_dict(new_sd)
    assert m.fc.bias is None and 'fc.bias' not in m.state_dict()
