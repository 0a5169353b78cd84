"Review s53 (M1): the ReSTE CIFAR models and BinaryDuo's VGG-7 start from their reference code's initialisation (nbs/12_models.ipynb)."
import math, pytest, torch
from torch import nn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.binary_weights import BinaryWeightConv2d
from sbn_estimators.models import resnet20, resnet18, vgg_small, binaryduo_vgg7, get_model

torch.set_num_threads(1)
ACT = lambda: BinaryActivation('st')

def _close(w, sigma):
    "The sample std of N iid normal weights has relative standard error ~ 1/sqrt(2N): allow 6 of them."
    return abs(w.detach().std().item() / sigma - 1) < 6 / math.sqrt(2 * w.numel())

def _convs(net): return [m for m in net.modules() if isinstance(m, nn.Conv2d)]

def test_resnet20_kaiming_normal_fan_in():
    "ReSTE's resnet20.py: kaiming_normal_(nonlinearity='relu') on every Conv2d (binary latents too) and the Linear: std sqrt(2/fan_in)."
    torch.manual_seed(0)
    net = resnet20(ACT)
    convs = _convs(net)
    assert len(convs) == 19
    for m in convs:
        n = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        assert _close(m.weight, math.sqrt(2 / n)), (m, m.weight.std().item(), math.sqrt(2 / n))
    assert _close(net.fc.weight, math.sqrt(2 / 64))
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias))
               for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)))

def test_resnet20_registry_has_the_init():
    torch.manual_seed(1)
    net = get_model('resnet20', 'st', in_shape=(3, 32, 32))
    assert _close(net.stem[0].weight, math.sqrt(2 / 27))

def test_resnet18_keeps_pytorch_default():
    "ReSTE's CIFAR resnet18.py has no init of its own: PyTorch's default, std 1/sqrt(3 fan_in)."
    torch.manual_seed(0)
    net = resnet18(ACT)
    for m in _convs(net):
        n = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        assert _close(m.weight, 1 / math.sqrt(3 * n)), m

def test_vgg_small_fan_out_and_linear_001():
    "ReSTE's vgg_small.py: convs N(0, 2/(k*k*out_channels)), Linear N(0, 0.01), bias 0."
    torch.manual_seed(0)
    net = vgg_small(ACT)
    convs = _convs(net)
    assert len(convs) == 6 and sum(isinstance(m, BinaryWeightConv2d) for m in convs) == 5
    for m in convs:
        assert _close(m.weight, math.sqrt(2 / (9 * m.out_channels))), (m, m.weight.std().item())
    assert _close(net.fc.weight, 0.01) and torch.equal(net.fc.bias, torch.zeros(10))

@pytest.mark.parametrize('units', ['pm1', 'zero_one'])
def test_binaryduo_vgg7_bias_free_classifier_and_init(units):
    "tinyVGG7(_coupled).lua: 1x1 conv 512->10 classifier without bias; every conv N(0, 4/n), n = k*k*in + ceil(k/s)^2*out."
    torch.manual_seed(0)
    net = get_model(f'binaryduo_vgg7:units={units}', 'clipped_st:deterministic=true', in_shape=(3, 32, 32))
    assert net.fc.bias is None
    assert all(m.bias is None for m in _convs(net))
    for m in _convs(net):
        (kh, kw), (sh, sw) = m.kernel_size, m.stride
        n = kh * kw * m.in_channels + math.ceil(kh / sh) * math.ceil(kw / sw) * m.out_channels
        assert _close(m.weight, math.sqrt(4 / n)), (m, m.weight.std().item(), math.sqrt(4 / n))
    assert _close(net.fc.weight, math.sqrt(4 / (512 + 10)))

def test_binaryduo_vgg7_coupled_widths_get_the_init():
    from sbn_estimators.binaryduo import binaryduo_vgg7_coupled
    torch.manual_seed(0)
    net = binaryduo_vgg7_coupled()
    m = net.features[0]
    assert m.out_channels == 45 and _close(m.weight, math.sqrt(4 / (9 * 3 + 9 * 45)))
    assert net.fc.bias is None

def test_he_normal_refuses_bad_arguments():
    from sbn_estimators.models import he_normal_
    with pytest.raises(ValueError, match="mode must be one of 'fan_in', 'fan_out'"): he_normal_(nn.Conv2d(2, 2, 3), 'fan')
    for bad in (0, -1., float('nan'), 'x'):
        with pytest.raises(ValueError, match='linear_std must be None or a finite number above 0'): he_normal_(nn.Linear(2, 2), linear_std=bad)
