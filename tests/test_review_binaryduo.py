"A review of BinaryDuo: exact decoupling under bfloat16 (ties round half up), which consumers decouple may rewrite, nested blocks, argument checks, and the trainer's stage and estimator errors."
import json
import numpy as np, pytest, torch
from torch import nn
from sbn_estimators.binaryduo import Quantize, QuantMLP, DuoBinary, DuoResNet, decouple, binary_input_params, duo_mlp
from conftest import sbn_train

torch.set_num_threads(1)

cli = sbn_train


# --- ties: Quantize rounds half up, as the two binary units of DuoBinary do ---

def test_ties_round_half_up():
    assert Quantize(2)(torch.tensor([0.25, 0.75])).tolist() == [0.5, 1.0]
    assert Quantize(1)(torch.tensor([0.5])).tolist() == [1.0]
    assert Quantize(2)(torch.tensor([0.75], dtype=torch.bfloat16)).dtype == torch.bfloat16

def test_bfloat16_values_decouple_exactly():
    "Every bfloat16 value in [-1, 2]: the ternary unit equals the mean of DuoBinary's two binary units (float32 parameters, as under autocast)."
    b = torch.arange(-2 ** 15, 2 ** 15, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    b = b[torch.isfinite(b) & (b >= -1) & (b <= 2)]
    assert (b == 0.75).any() and (b == 0.25).any()
    assert torch.equal(Quantize(2)(b).float(), DuoBinary(1)(b[:, None]).mean(1))

def test_autocast_decoupled_model_predicts_the_same():
    "The reviewer's case: a trained-statistics QuantMLP, 2000 inputs under bfloat16 autocast (23 predictions changed before)."
    torch.manual_seed(0)
    m, x = QuantMLP([64, 70, 70, 10]), torch.randn(2000, 64)
    with torch.no_grad(): m.train()(x)
    m.eval(); d = decouple(m)
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16): a, b = m(x), d(x)
    assert (a.argmax(1) != b.argmax(1)).sum().item() == 0
    assert (a.float() - b.float()).abs().max().item() <= 1e-2

def test_amp_staged_run_starts_finetuning_at_the_coupled_metrics(tmp_path, capsys):
    "sbn-train --amp: the test right after decoupling (finetuned_start) equals the coupled network's."
    code, _, err = cli(capsys, '--recipe', 'binaryduo_digits', '--amp', '--n-train', '300', '--epochs', '3', '--quiet',
                       '--stages', '[{"name": "coupled"}, {"name": "finetuned", "transform": "decouple", "epochs": 1, "lr": 0.001}]',
                       '--out', str(tmp_path / 'run'))
    assert code == 0, err
    st = json.loads((tmp_path / 'run' / 'result.json').read_text())['stages']
    a, b = st['coupled'], st['finetuned_start']
    assert (b['test_acc'], b['test_det_acc']) == (a['test_acc'], a['test_det_acc'])
    assert b['test_loss'] == pytest.approx(a['test_loss'], rel=1e-5)


# --- which consumers decouple may rewrite ---

class WSConv2d(nn.Conv2d):
    "A weight-standardised conv: its function is not linear in `weight`."
    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return self._conv_forward(x, w, self.bias)

def _hooked():
    l = nn.Linear(3, 2); l.register_forward_hook(lambda m, i, o: 2 * o); return l

@pytest.mark.parametrize('make,conv,name', [
    (lambda: WSConv2d(3, 2, 1), True, 'WSConv2d'),
    (lambda: nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2)), False, 'ParametrizedLinear'),
    (lambda: nn.utils.parametrizations.weight_norm(nn.Linear(3, 2)), False, 'ParametrizedLinear'),
    (lambda: nn.utils.weight_norm(nn.Linear(3, 2)), False, 'Linear'),   # the old weight norm: a pre-hook on a plain Linear
    (_hooked, False, 'Linear'),
])
@pytest.mark.filterwarnings('ignore:.*weight_norm:FutureWarning')
def test_decouple_refuses_layers_it_cannot_halve(make, conv, name):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(2, 3, 1) if conv else nn.Linear(4, 3), Quantize(2), make())
    with pytest.raises(ValueError, match=f"the ternary unit '1' feeds a {name} \\('2'\\): decoupling halves the input weights of nn.Linear"):
        decouple(m)


# --- nested blocks, units without consumers, pooling ---

def _randomise_bn_(model, x):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(0.2 + 0.4 * torch.rand(m.weight.shape, generator=g)); m.bias.copy_(0.2 + 0.6 * torch.rand(m.bias.shape, generator=g))
                m.momentum = 1.
        model.train()(x)
    return model.eval()

def test_nested_blocks_decouple_exactly():
    "A unit that ends a block is read by the conv that starts the next one: found, and the function is kept."
    torch.manual_seed(0)
    block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), Quantize(2))
    m = nn.Sequential(block(1, 5), nn.Sequential(block(5, 6), nn.MaxPool2d(2)), nn.Conv2d(6, 3, 1)).double()
    x = torch.randn(8, 1, 8, 8, dtype=torch.float64)
    _randomise_bn_(m, x)
    d = decouple(m)
    assert [type(u).__name__ for u in (d[0][2], d[1][0][2])] == ['DuoBinary', 'DuoBinary']
    assert (d[1][0][0].in_channels, d[2].in_channels) == (10, 12)
    acts = {}
    hooks = [u.register_forward_hook(lambda mod, i, o, k=k: acts.setdefault(k, []).append(o)) for k, u in
             (('a', m[0][2]), ('a', m[1][0][2]), ('b', d[0][2]), ('b', d[1][0][2]))]
    with torch.no_grad(): ya, yb = m(x), d(x)
    for h in hooks: h.remove()
    for t, u in zip(acts['a'], acts['b']):
        assert torch.equal(t, sum(u.chunk(2, 1)) / 2) and (t == 0.5).float().mean() > 0.05
    torch.testing.assert_close(yb, ya, rtol=0, atol=1e-12)
    assert binary_input_params(d) == 2 * binary_input_params(m)

def test_binary_unit_at_the_end_of_a_block_does_not_block_decoupling():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Linear(3, 3), Quantize(1)), nn.Linear(3, 2)).double().eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad(): torch.testing.assert_close(decouple(m)(x), m(x), rtol=0, atol=1e-12)
    lone = nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Linear(3, 3), Quantize(1))   # nothing reads the binary unit here
    assert type(decouple(lone)[1]).__name__ == 'DuoBinary'

def test_unit_without_consumer_is_named_by_its_path():
    m = nn.Sequential(nn.Linear(4, 3), nn.Sequential(nn.BatchNorm1d(3), Quantize(2), nn.ReLU()), nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"the quantiser '1.1' is not followed by a Linear or Conv2d \('1.2', a ReLU, comes next\)"):
        decouple(m)
    with pytest.raises(ValueError, match=r"the quantiser '0.1' is not followed by a Linear or Conv2d \(it ends its nn.Sequential\)"):
        binary_input_params(nn.ModuleList([nn.Sequential(nn.Linear(4, 3), Quantize(1))]))

def test_pooling_between_unit_and_linear_is_refused():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 1), Quantize(2), nn.MaxPool2d(2), nn.Linear(2, 3))
    with pytest.raises(ValueError, match=r"the ternary unit '1' feeds a Linear \('3'\) through the MaxPool2d '2': pooling .* between a unit and a Conv2d only"):
        decouple(m)
    conv = nn.Sequential(nn.Conv2d(1, 2, 1), Quantize(2), nn.AvgPool2d(2), nn.Conv2d(2, 3, 1)).double().eval()
    x = torch.randn(2, 1, 4, 6, dtype=torch.float64)
    with torch.no_grad(): torch.testing.assert_close(decouple(conv)(x), conv(x), rtol=0, atol=1e-12)


# --- what decouple copies over, argument checks ---

def test_decouple_keeps_training_mode_and_frozen_weights():
    torch.manual_seed(0)
    m = QuantMLP([4, 3, 3, 2]).eval()
    m[3].weight.requires_grad_(False)
    d = decouple(m)
    assert (d[2].training, d[5].training) == (False, False)
    assert (d[3].weight.requires_grad, d[6].weight.requires_grad) == (False, True)
    assert decouple(m.train())[2].training

@pytest.mark.parametrize('call,msg', [
    (lambda: DuoBinary(3)(torch.randn(5, 4)), r"DuoBinary\(channels=3, dim=-1\) reads 3 channels on dimension -1 of its input, got shape \(5, 4\)"),
    (lambda: DuoBinary(3, dim=-3)(torch.randn(3, 4)), r"DuoBinary\(channels=3, dim=-3\) reads 3 channels on dimension -3 of its input, got shape \(3, 4\)"),
    (lambda: decouple('foo'), "model must be an nn.Module, got str 'foo'"),
    (lambda: DuoResNet(widths=(4, 6, 8), blocks=(1, 1, 1, 1)), r"widths and blocks must have one entry per stage, got 3 widths \(4, 6, 8\) and 4 block counts"),
    (lambda: DuoResNet(widths=(0, 4, 4, 4), blocks=(1, 1, 1, 1)), r"widths must be a non-empty sequence of positive integers, got \(0, 4, 4, 4\)"),
    (lambda: DuoResNet(widths=(4.5, 4, 4, 4), blocks=(1, 1, 1, 1)), r"widths must be a non-empty sequence of positive integers, got \(4.5, 4, 4, 4\)"),
    (lambda: DuoResNet(widths=(), blocks=()), r"widths must be a non-empty sequence of positive integers, got \(\)"),
    (lambda: DuoResNet(widths=(4, 4), blocks=(1, 0)), r"blocks must be a non-empty sequence of positive integers, got \(1, 0\)"),
    (lambda: DuoResNet(widths=(4, 4), blocks=(1, 1), n_out=0), "n_out must be a positive integer, got 0"),
    (lambda: DuoResNet(act=None), "act must build the activation module"),
    (lambda: duo_mlp(steps=0), "model 'duo_mlp': steps must be a positive integer"),
])
def test_argument_checks(call, msg):
    with pytest.raises(ValueError, match=msg): call()

def test_duoresnet_checked_widths_still_build():
    torch.manual_seed(0)
    res = DuoResNet(widths=np.array([4, 6]), blocks=[1, 1], in_channels=1, n_out=3).eval()
    with torch.no_grad(): assert res(torch.randn(2, 1, 8, 8)).shape == (2, 3)


# --- the trainer: stage errors, unused estimators ---

BAD = [(['--model', 'duo_mlp:steps=0', '--smoke'], "model 'duo_mlp': steps must be a positive integer (1 binary, 2 ternary, 3 two-bit), got 0"),
       (['--model', 'duo_mlp', '--smoke', '--stages', '[{"name": "c"}, {"name": "d", "transform": "decouple"}, {"name": "e", "transform": "decouple"}]'],
        "stage 'e' (transform 'decouple'): the model has no ternary Quantize(2) units to decouple"),
       (['--model', 'duo_mlp', '--estimator', 'approx_sign', '--smoke'], "--estimator approx_sign is not used: model 'duo_mlp' has no binary units (its ternary"),
       (['--recipe', 'binaryduo_digits', '--estimator', 'approx_sign', '--smoke', '--stages', '[{"name": "coupled"}]'],
        "--estimator approx_sign is not used: model 'duo_mlp' has no binary units (its ternary"),
       (['--model', 'duo_mlp:steps=3', '--estimator', 'reste:o=3', '--smoke', '--stages', '[{"name": "c"}, {"name": "d", "epochs": 1}]'],
        "--estimator reste:o=3 is not used: model 'duo_mlp:steps=3' has no binary units after its last stage")]

@pytest.mark.parametrize('args,msg', BAD, ids=[' '.join(a) for a, _ in BAD])
def test_cli_errors_name_the_stage_and_the_option(args, msg, capsys):
    code, _, err = cli(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and msg in err, err

@pytest.mark.parametrize('args', [['--recipe', 'binaryduo_digits', '--estimator', 'approx_sign'], ['--model', 'duo_mlp:steps=1', '--estimator', 'approx_sign'],
                                  ['--model', 'duo_mlp']])
def test_cli_accepts_an_estimator_that_is_used(args, capsys):
    code, out, err = cli(capsys, *args, '--smoke')
    assert code == 0 and 'smoke run of duo_mlp' in out, err
