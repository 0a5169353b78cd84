"Session 42's layers/models/BinaryDuo review: decoupling of a model cast to 16 bits, option-A shortcuts that would crop channels, QuantMLP slices' keys, argument errors of the coupled models, export of non-finite scales, unpack_weight's scale shape, estimator-free registry models."
import copy, math, re, pytest, torch
from torch import nn
from sbn_estimators.binaryduo import QuantMLP, DuoResNet, DuoBinary, Quantize, decouple
from sbn_estimators.models import VGG7, ResBlock, ResNetCifar, BNNConvNet, get_model, model_entry
from sbn_estimators.layers import BinaryActivation, export_binary, import_binary, unpack_weight
from sbn_estimators.binary_weights import BinaryWeightLinear, BinaryWeightConv2d

torch.set_num_threads(1)
ACT = lambda: BinaryActivation('st')

def _all(dt):
    "Every finite value of the 16-bit dtype `dt` in [-1, 2]."
    v = torch.arange(-2 ** 15, 2 ** 15, dtype=torch.int32).to(torch.int16).view(dt)
    return v[torch.isfinite(v) & (v >= -1) & (v <= 2)]

@pytest.mark.parametrize('dt', [torch.bfloat16, torch.float16])
def test_duobinary_cast_to_16_bits_averages_to_the_ternary_unit(dt):
    "DuoBinary.bfloat16() computed y + 1/4 in 16 bits: y = 1/4 - 2^-10 rounded up to 1/2 and the unit averaged 1/2, not 0."
    y = _all(dt)
    d = DuoBinary(1).to(dt)
    out = d(y[:, None])
    assert out.dtype == dt
    assert torch.equal(out.float().mean(1), Quantize(2)(y).float())

@pytest.mark.parametrize('dt, old', [(torch.bfloat16, 62), (torch.float16, 9)])
def test_decouple_of_a_cast_model_predicts_the_same(dt, old):
    "A QuantMLP cast with .bfloat16() (not autocast): 62 of 4000 predictions changed by decoupling (float16: 9)."
    torch.manual_seed(0)
    net, x = QuantMLP([64, 70, 70, 10]), torch.randn(4000, 64)
    with torch.no_grad(): net.train()(x)
    n = net.eval().to(dt)
    with torch.no_grad(): a, b = n(x.to(dt)), decouple(n)(x.to(dt))
    assert (a.argmax(1) != b.argmax(1)).sum().item() == 0

def test_duobinary_under_autocast_keeps_its_float32_output():
    "Under autocast (float32 parameters) the output dtype is what it was: float32."
    with torch.autocast('cpu', torch.bfloat16):
        assert DuoBinary(3)(torch.rand(2, 3).bfloat16()).dtype == torch.float32

@pytest.mark.parametrize('build', [lambda: ResBlock(ACT, 8, 4, 1, 'A'), lambda: ResBlock(ACT, 8, 4, 2, 'A'),
                                   lambda: ResNetCifar(ACT, blocks=(1, 1, 1), widths=(32, 16, 8), shortcut='A')])
def test_option_a_shortcut_cannot_reduce_channels(build):
    "F.pad with a negative pad cropped channels silently: ResBlock(act, 8, 4, 1, 'A') and widths (32, 16, 8) built."
    with pytest.raises(ValueError, match="shortcut 'A' .*cannot reduce them.*use shortcut 'B'"): build()

def test_resnet_widths_named_and_shortcut_b_still_builds():
    with pytest.raises(ValueError, match=re.escape("got widths=(32, 16, 8)")): ResNetCifar(ACT, (1, 1, 1), (32, 16, 8), 'A')
    net = ResNetCifar(ACT, (1, 1, 1), (32, 16, 8), 'B').eval()
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert ResBlock(ACT, 4, 8, 2, 'A').eval()(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)   # widening still pads

def test_quantmlp_slice_keeps_the_parents_keys():
    "QuantMLP[3:] renumbered its modules '0', '1', ...: its state_dict names did not match the parent's."
    torch.manual_seed(0)
    net = QuantMLP([4, 5, 6, 3])
    tail = net[3:]
    assert list(tail._modules) == ['3', '4', '5', '6']
    sd = net.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in tail.state_dict().items())
    assert list(nn.Sequential(*net)[3:]._modules) == list(tail._modules)   # what nn.Sequential does

@pytest.mark.parametrize('sizes', [5, None, 'abc', [4, 3], [4, 0, 3], [4, 2.5, 3]])
def test_quantmlp_sizes_refused(sizes):
    "QuantMLP(5) and QuantMLP(None) raised TypeError from len()."
    with pytest.raises(ValueError, match=re.escape(f"sizes must be a sequence of at least 3 positive integers ([n_in, n_1, ..., n_out]), got {sizes!r}")):
        QuantMLP(sizes)

@pytest.mark.parametrize('build', [lambda a: QuantMLP([4, 3, 2], act=a), lambda a: VGG7(a), lambda a: DuoResNet(act=a),
                                   lambda a: ResNetCifar(a), lambda a: BNNConvNet(a)])
def test_a_module_given_as_act_refused(build):
    "A module instance instead of its factory failed with 'forward() missing 1 required positional argument' (DuoResNet's callable check let it through)."
    with pytest.raises(ValueError, match="act must build the module, e.g. lambda: .*got the module"): build(Quantize(2))

@pytest.mark.parametrize('channels', [(1, 1, 1, 1, 0), (1, 1, 1, 1, -2), (1.5, 1, 1, 1, 1), (1, 1, 1, 1), (True, 1, 1, 1, 1), 5, 'abcde'])
def test_vgg7_channels_refused(channels):
    "VGG7(channels=(1, 1, 1, 1, 0)) built a zero-channel conv; other bad channels gave raw PyTorch errors."
    with pytest.raises(ValueError, match=re.escape(f"channels must be a sequence of 5 positive integers (the five binary layers' widths), got {channels!r}")):
        VGG7(lambda: Quantize(2), channels=channels)

def test_vgg7_width_error_names_the_model():
    with pytest.raises(ValueError, match=re.escape("VGG7 (model 'binaryduo_vgg7'): width must be a finite number above 1/128")):
        get_model('binaryduo_vgg7:width=0.001', 'st', in_shape=(3, 32, 32))

def test_export_refuses_a_non_finite_scale():
    "One NaN latent gave a NaN scale that export_binary wrote and import_binary then refused."
    net = nn.Sequential(nn.Linear(4, 4), BinaryWeightLinear(4, 3, scale='channel'))
    with torch.no_grad(): net[1].weight[1, 2] = math.nan
    with pytest.raises(ValueError, match="layer 1: its scale .* is not finite"): export_binary(net)

def test_unpack_weight_checks_the_scale_shape():
    "A channel scale flattened to (3,) for a (3, 2, 3, 3) weight scaled along the kernel width silently."
    torch.manual_seed(0)
    m = nn.Sequential(BinaryWeightConv2d(2, 3, 3, scale='channel'))
    e = export_binary(m)
    torch.testing.assert_close(unpack_weight(e, '0'), m[0].binary_weight().detach())
    bad = dict(e); bad['0.weight.scale'] = e['0.weight.scale'].flatten()
    with pytest.raises(ValueError, match=re.escape("0: exported scale has shape [3]; a weight of shape [3, 2, 3, 3] takes a scalar scale or one per output channel, of shape [3, 1, 1, 1]")):
        unpack_weight(bad, '0')
    t = export_binary(nn.Sequential(BinaryWeightConv2d(2, 3, 3, scale='tensor')))
    assert unpack_weight(t, '0').shape == (3, 2, 3, 3)   # a scalar scale still reads

@pytest.mark.parametrize('name, shape', [('duo_vgg7', (3, 32, 32)), ('duo_resnet18', (3, 32, 32)), ('duo_mlp', (64,))])
def test_duo_models_build_without_an_estimator(name, shape):
    "get_model('duo_vgg7') refused est=None ('needs a local estimator') although the builder ignores est."
    assert model_entry(name).needs_est is False
    with torch.random.fork_rng(): m = get_model(name, in_shape=shape)
    assert isinstance(m, nn.Module)

def test_other_layered_models_still_need_an_estimator():
    with pytest.raises(ValueError, match="needs a local estimator"): get_model('resnet20', in_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="needs a local estimator"): get_model('binaryduo_vgg7', in_shape=(3, 32, 32))
