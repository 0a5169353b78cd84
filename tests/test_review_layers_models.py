"Review fixes (layers, summary, models): an SBN's noise is its local estimator's; import_binary's scale bit for bit in large float32 groups; the summary follows copies and in-place writes; register_model checks the builder's signature; BinaryActivation, ResNetCifar argument checks; VGG-small in ReSTE's order."
import os, subprocess, sys, textwrap
import pytest
import torch
from torch import nn
from sbn_estimators.binary_weights import BinaryWeightLinear, weight_scale
from sbn_estimators.layers import BinaryActivation, _latent_with_scale, export_binary, import_binary
from sbn_estimators.models import MODELS, ResNetCifar, ResBlock, get_model, register_model
from sbn_estimators.straight_through import ST, sign_pm
from sbn_estimators.summary import model_summary
from conftest import console_script

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}

# 1. get_model: an SBN built for a local estimator has the estimator's noise
@pytest.mark.parametrize('est,noise,want', [('st:noise=normal', 'logistic', "model 'sbn_mlp': noise='logistic' conflicts with estimator 'st', which assumes normal noise"),
                                            ('st', 'normal', "pass noise='normal' (the spec 'st:noise=normal')"),
                                            ('darn', 'normal', "noise='normal' conflicts with estimator 'darn', which assumes logistic noise")])
def test_get_model_refuses_a_noise_other_than_the_estimators(est, noise, want):
    with pytest.raises(ValueError, match=want.replace('(', r'\(').replace(')', r'\)')):
        get_model('sbn_mlp', est, in_shape=(4,), noise=noise)
    with pytest.raises(ValueError, match='conflicts with estimator'): get_model(f'sbn_mlp:noise={noise}', est, in_shape=(4,))

def test_get_model_keeps_a_noise_that_agrees():
    assert get_model('sbn_mlp', 'st:noise=normal', in_shape=(4,), noise='normal').noise.name == 'normal'
    assert get_model('sbn_mlp', 'st:noise=normal', in_shape=(4,)).noise.name == 'normal'   # taken from the estimator
    assert get_model('sbn_mlp', 'psa', in_shape=(4,), noise='normal').noise.name == 'normal'   # network-level: the net's noise

# 2. import_binary: the scale bit for bit in a float32 group of more than 2^24 weights (no exact sum of n multiples of g there)
def test_scale_bit_for_bit_in_a_group_of_more_than_2_24_float32_weights():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 2**24 + 12345, generator=g) * 1.7
    alpha = weight_scale(w, 'tensor')
    latent, exact = _latent_with_scale(sign_pm(w) * alpha, alpha, 'tensor')
    assert exact and torch.equal(weight_scale(latent, 'tensor'), alpha)
    assert torch.equal(sign_pm(latent), sign_pm(w))
    assert ((latent.abs() - alpha).abs() / alpha).max() < 1e-5   # float neighbours of alpha

def test_import_binary_round_trip_of_a_large_layer_is_exact():
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(4100, 4096, scale='tensor', bias=False))
    ex = export_binary(net)
    back = import_binary(nn.Sequential(BinaryWeightLinear(4100, 4096, scale='tensor', bias=False)), ex)
    assert torch.equal(back[0].signs_and_scale()[1], ex['0.weight.scale'])
    assert torch.equal(back[0].signs(), net[0].signs())

# 3. summary: copies of ±1 outputs stay binary, in-place writes make them float
class _Net(nn.Module):
    def __init__(self, between):
        super().__init__(); self.c, self.a, self.fc, self.between = nn.Conv2d(1, 2, 3, padding=1), BinaryActivation('st'), nn.Linear(32, 3), between
    def forward(self, x): return self.fc(self.between(self.a(self.c(x)), x))

def _inplace_partial(h, x): h[:, :1] = 0.5; return h.flatten(1)
def _iadd(h, x): h += x; return h.flatten(1)

@pytest.mark.parametrize('between,want', [(lambda h, x: h.flatten(1), 'binary'),
                                          (lambda h, x: h.contiguous().reshape(len(h), -1), 'binary'),
                                          (lambda h, x: h.permute(0, 2, 3, 1).contiguous().flatten(1), 'binary'),
                                          (lambda h, x: torch.cat([h[:, :1], h[:, 1:]], 1).flatten(1), 'binary'),
                                          (lambda h, x: h.clone().flatten(1), 'binary'),
                                          (lambda h, x: torch.cat([h[:, :1], x], 1).flatten(1), 'float'),
                                          (lambda h, x: h.mul_(0.37).add_(x).flatten(1), 'float'),
                                          (_inplace_partial, 'float'), (_iadd, 'float'),
                                          (lambda h, x: h.flatten(1).relu_(), 'float')])
@pytest.mark.parametrize('channels_last', [False, True])
def test_summary_follows_copies_and_in_place_writes(between, want, channels_last):
    net, x = _Net(between), torch.randn(1, 1, 4, 4)
    if channels_last: net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    assert [r.precision for r in model_summary(net, x).rows] == ['float', want]

def test_summary_of_a_binary_input_written_in_place_is_float():
    class Scale(nn.Module):
        def __init__(self): super().__init__(); self.fc = nn.Linear(6, 2)
        def forward(self, x): return self.fc(x.mul_(0.5))
    assert model_summary(Scale(), sign_pm(torch.randn(1, 6))).rows[0].precision == 'float'
    class Keep(Scale):
        def forward(self, x): return self.fc(x.clone())
    assert model_summary(Keep(), sign_pm(torch.randn(1, 6))).rows[0].precision == 'binary'

# 4. register_model: the builder must take build(est, in_shape, n_out, **params)
@pytest.mark.parametrize('builder', [lambda width=3: None, lambda est, in_shape: None, lambda est, in_shape, **kw: None])
def test_register_model_checks_the_builders_signature(builder):
    with pytest.raises(ValueError, match=r"model 'x_bad_sig': the builder .* cannot be called as get_model calls it .* needs the signature build\(est, in_shape, n_out, \*\*params\)"):
        register_model('x_bad_sig', 'layered', (64,), 'digits', 'x')(builder)
    assert 'x_bad_sig' not in MODELS

def test_register_model_accepts_builders_get_model_can_call():
    for b in (lambda est, in_shape, n_out, width=3: None, lambda est=None, in_shape=(64,), n_out=10, **kw: None, lambda *a, **kw: None):
        register_model('x_ok_sig', 'layered', (64,), 'digits', 'x')(b)
        MODELS.pop('x_ok_sig')

def test_a_plugin_with_a_wrong_builder_signature_is_one_line_rc_2(tmp_path):
    (tmp_path / 'plug.py').write_text(textwrap.dedent('''
        from torch import nn
        from sbn_estimators.models import register_model
        @register_model('mymodel', 'layered', (64,), 'digits', 'bad builder signature')
        def mymodel(width: int = 3): return nn.Linear(64, 10)
        '''))
    r = subprocess.run([console_script('sbn-train'), '--smoke', '--plugins', str(tmp_path / 'plug.py'), '--model', 'mymodel'],
                       capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert "needs the signature build(est, in_shape, n_out, **params)" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

# 5. BinaryActivation: what est may be
@pytest.mark.parametrize('est', [None, 3, nn.ReLU(), ST])   # ST: the class, not an estimator
def test_binary_activation_needs_an_estimator_or_a_spec(est):
    with pytest.raises(ValueError, match=r"est must be a local estimator or a spec like 'st', got "):
        BinaryActivation(est)

@pytest.mark.parametrize('spec', ['', ' ', ','])
def test_binary_activation_empty_spec(spec):
    with pytest.raises(ValueError, match=f"est is an empty spec {spec!r}: name one local estimator, e.g. 'st'"):
        BinaryActivation(spec)

def test_binary_activation_network_level_message_unchanged():
    with pytest.raises(ValueError, match="estimator 'psa' is network-level"): BinaryActivation('psa')

# 9. ResNetCifar / ResBlock arguments
def test_resnet_blocks_and_widths_must_match():
    act = lambda: BinaryActivation('st')
    with pytest.raises(ValueError, match=r"blocks and widths give one entry per stage: got 2 stages of blocks=\(3, 3\) and 3 of widths=\(16, 32, 64\)"):
        ResNetCifar(act, blocks=(3, 3), widths=(16, 32, 64))
    for arg, bad in (('blocks', ()), ('blocks', (3, 0, 3)), ('widths', (16, 32.0, 64)), ('blocks', 3)):
        with pytest.raises(ValueError, match=rf"{arg} must be a non-empty sequence of positive integers \(one per stage\), got "):
            ResNetCifar(act, **{arg: bad})

@pytest.mark.parametrize('make', [lambda act: ResNetCifar(act, shortcut='C'), lambda act: ResBlock(act, 16, 32, 2, shortcut='C')])
def test_resnet_unknown_shortcut(make):
    with pytest.raises(ValueError, match=r"shortcut must be one of 'A', 'B' .* got 'C'"): make(lambda: BinaryActivation('st'))

def test_resnet_shortcuts_as_before():
    act = lambda: BinaryActivation('st')
    assert isinstance(ResNetCifar(act, shortcut='B').layers[3].shortcut, nn.Sequential)
    assert ResNetCifar(act, shortcut='A').layers[3].pad == 16

# 7. VGG-small: conv -> ReLU -> BN -> pool, as ReSTE's vgg_small_1w1a
def test_vgg_small_pools_after_batch_norm():
    kinds = [type(m).__name__ for m in get_model('vgg_small', 'st', in_shape=(3, 32, 32)).features]
    assert [kinds[k - 3:k + 1] for k, m in enumerate(kinds) if m == 'MaxPool2d'] == [['BinConv', 'ReLU', 'BatchNorm2d', 'MaxPool2d']] * 3
