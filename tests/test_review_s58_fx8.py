"Every layered model takes `dtype` as the SBN models do: built in float64 through a spec, its parameters, buffers and gradients float64; `--list` shows it; the trainer runs it."
import pytest, torch
from sbn_estimators.models import MODELS, get_model, list_models
from conftest import sbn_train

torch.set_num_threads(1)

SHAPES = {'fmnist_bnn_conv': (1, 28, 28), 'resnet20': (3, 8, 8), 'resnet18': (3, 8, 8), 'vgg_small': (3, 32, 32),
          'binaryduo_vgg7': (3, 32, 32), 'duo_mlp': (64,), 'duo_vgg7': (3, 32, 32), 'duo_resnet18': (3, 8, 8),
          'fmnist_biper_conv': (1, 28, 28)}
LAYERED = [n for n in list_models() if MODELS[n].kind == 'layered']
SPECS = LAYERED + ['binaryduo_vgg7:units=zero_one', 'duo_mlp:steps=1', 'fmnist_biper_conv:binarize=True,tau=0.1',
                   'resnet20:binary_weights=False']

def test_every_layered_model_is_covered():
    assert set(LAYERED) <= set(SHAPES), set(LAYERED) - set(SHAPES)

@pytest.mark.parametrize('spec', SPECS)
def test_layered_model_builds_and_trains_in_float64(spec):
    name = spec.split(':')[0]
    net = get_model(spec + (',' if ':' in spec else ':') + 'dtype=float64', 'clipped_st', in_shape=SHAPES[name])
    out = net(torch.rand(2, *SHAPES[name], dtype=torch.float64))
    assert out.dtype == torch.float64
    out.sum().backward()
    named = [*net.named_parameters(), *net.named_buffers(), *net.state_dict().items()]
    assert [k for k, t in named if t.is_floating_point() and t.dtype != torch.float64] == []
    assert all(p.grad is not None and p.grad.dtype == torch.float64 for p in net.parameters())

@pytest.mark.parametrize('name', LAYERED)
def test_layered_default_dtype_is_float32_and_listed(name):
    assert MODELS[name].params['dtype'] == 'float32'
    net = get_model(name, 'st', in_shape=SHAPES[name], dtype=torch.float32)
    assert {t.dtype for t in net.state_dict().values() if t.is_floating_point()} == {torch.float32}

def test_layered_dtype_refused_as_for_sbn_models():
    with pytest.raises(ValueError, match=r"dtype must be one of float32, float64 \(or a floating point torch.dtype\), got 'float16'"):
        get_model('resnet20:dtype=float16', 'st', in_shape=(3, 8, 8))

def test_list_shows_dtype_and_smoke_run_in_float64(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = sbn_train(capsys, '--list')
    assert code == 0 and 'binary_weights=True, dtype=float32' in out and 'width=32, dtype=float32' in out, err
    code, out, err = sbn_train(capsys, '--smoke', '--model', 'duo_mlp:hidden=8,steps=1,dtype=float64', '--estimator', 'st',
                               '--threads', '1')   # no --eval-samples: BinaryDuo's nets sample nothing (refused)
    assert code == 0 and 'nothing written' in out, err
    assert list(tmp_path.iterdir()) == []
