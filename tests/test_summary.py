"""`model_summary` (nbs/11a_summary.ipynb) at its public boundary and in the cases the page does not show: bad
arguments, the model left as it was (also after a failed run), batch size, SBN models, float64, tied weights, layers
that are not run or run twice, scales other than 'tensor', grouped and 1-d convs, the printed tables, and input
precision as a property of the model (its quantizers), not of the batch."""
import math, re
import pytest
import torch
from torch import nn
from sbn_estimators.binary_weights import BinaryWeightConv2d, BinaryWeightLinear
from sbn_estimators.binaryduo import DuoBinary, Quantize, QuantMLP
from sbn_estimators.straight_through import sign_pm
from sbn_estimators.layers import BinaryActivation, export_binary
from sbn_estimators.models import get_model
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.summary import model_summary, ModelSummary


def export_bytes(model):
    return sum(t.numel() * t.element_size() for k, t in export_binary(model).items() if not k.endswith('.shape'))


def small_bnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), BinaryActivation('st'),
                         BinaryWeightConv2d(4, 6, 3, padding=1, bias=False, scale='channel', deterministic=False), nn.BatchNorm2d(6),
                         BinaryActivation('st'), nn.Flatten(), nn.Linear(6 * 5 * 5, 3))


def flags(model): return [m.training for m in model.modules()]


@pytest.mark.parametrize('model, x, msg', [
    ([nn.Linear(2, 2)], torch.zeros(1, 2), 'model must be a torch.nn.Module, got list'),
    (nn.Sequential(nn.ReLU()), torch.zeros(1, 2), 'model must hold parameters to summarise, got a Sequential with none'),
    (nn.Linear(2, 2), [[0., 0.]], 'x must be a tensor, an example input batch such as one example [1, *in_shape]; got list'),
    (nn.Linear(2, 2), torch.tensor(1.), 'x must be a batch with at least one example, e.g. of shape [1, *in_shape]; got shape ()'),
    (nn.Linear(2, 2), torch.zeros(0, 2), 'got shape (0, 2)'),
])
def test_bad_arguments(model, x, msg):
    with pytest.raises(ValueError) as e: model_summary(model, x)
    assert msg in str(e.value)


@pytest.mark.parametrize('x', [torch.zeros(1, 3, 5, 5), torch.zeros(1, 1, 5, 5, dtype=torch.float64)])
def test_x_that_does_not_fit_a_layered_model(x):
    net = small_bnn()
    net[1].eval()
    before = flags(net)
    with pytest.raises(ValueError, match=re.escape(f"x of shape {tuple(x.shape)} ({x.dtype}, cpu) does not fit the model: ")):
        model_summary(net, x)
    assert flags(net) == before and not any(m._forward_hooks for m in net.modules())   # restored after the failure


def test_x_that_does_not_fit_an_sbn_model():
    net = get_model('sbn_mlp', 'st', in_shape=(64,), width=8)
    with pytest.raises(ValueError, match=r'x of shape \(1, 63\) \(torch.float32, cpu\) does not fit the model'):
        model_summary(net, torch.zeros(1, 63))
    assert net.training and not any(m._forward_hooks for m in net.modules())


def test_model_left_as_it_was():
    net = small_bnn()
    net[4].eval()
    acts = [m for m in net.modules() if isinstance(m, BinaryActivation)]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    before, x = flags(net), torch.randn(2, 1, 5, 5)
    torch.manual_seed(1)
    model_summary(net, x)
    drawn = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(drawn, torch.rand(3))                                 # deterministic: no random number drawn
    assert flags(net) == before
    assert [a.eval_mode for a in acts] == ['sample', 'sample'] and not net[3].deterministic   # binary_eval_mode undone
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_counts_are_per_example():
    net, x = small_bnn(), torch.randn(5, 1, 5, 5)
    one, five = model_summary(net, x[:1]), model_summary(net, x)
    assert one.rows == five.rows and one.in_shape == five.in_shape == (1, 5, 5)


def test_small_bnn_by_hand_and_against_the_export():
    s = model_summary(small_bnn(), torch.randn(1, 1, 5, 5))
    rows = {r.name: r for r in s.rows}
    assert list(rows) == ['0', '1', '3', '4', '7']
    assert (rows['0'].precision, rows['0'].macs_float) == ('float', 25 * 36)
    assert (rows['3'].precision, rows['3'].macs_binary, rows['3'].n_binary) == ('binary', 25 * 216, 216)
    assert rows['3'].nbytes == 216 // 8 + 6 * 4                                 # per-channel scales
    assert (rows['7'].precision, rows['7'].macs_mixed) == ('binary', 150 * 3)       # ±1 input, float weight
    assert s.total.nbytes == export_bytes(small_bnn())


@pytest.mark.parametrize('kw', [dict(scale='none', deterministic=False), dict(scale='tensor', groups=2),
                                dict(scale='channel', groups=3)])
def test_binary_conv_variants_against_the_export(kw):
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightConv2d(6, 6, 3, bias=True, **kw), nn.Flatten(), BinaryWeightLinear(6 * 16, 5, scale='none'))
    s = model_summary(net, torch.randn(1, 6, 6, 6))
    assert s.total.nbytes == export_bytes(net)
    assert s.rows[0].macs_mixed == 16 * net[0].weight.numel() and s.rows[1].macs_binary == 0   # float image; float conv output
    assert s.rows[1].macs_mixed == 96 * 5


def test_sbn_models():
    net = get_model('sbn_mlp', 'st', in_shape=(64,), width=16, depth=2)
    s = model_summary(net, torch.randn(3, 64))
    assert [(r.name, r.precision, r.out_shape) for r in s.rows] == [('layers.0', 'float', (16,)), ('layers.1', 'binary', (16,)),
                                                                    ('layers.2', 'binary', (10,))]
    assert (s.total.macs_float, s.total.macs_mixed, s.total.macs_binary) == (64 * 16, 16 * 16 + 16 * 10, 0)
    assert s.total.n_binary == 0 and s.total.nbytes == export_bytes(net) and s.compression == 1
    conv = get_model('fmnist_sbn_conv', 'st')
    s = model_summary(conv, torch.randn(1, 1, 28, 28))
    assert [r.precision for r in s.rows] == ['float', 'binary', 'binary', 'binary', 'binary'] and s.total.nbytes == export_bytes(conv)


def test_float64_model_is_larger_than_its_float32_equivalent():
    s = model_summary(SBNMLP([4, 3, 2]), torch.randn(1, 4, dtype=torch.float64))
    assert s.total.nbytes == 8 * 23 and s.compression == 0.5


def test_tied_weights_count_once():
    a, b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    b.weight = a.weight
    s = model_summary(nn.Sequential(a, nn.Tanh(), b), torch.randn(1, 4))
    assert s.total.n_float == 16 and s.total.nbytes == 64 and s.total.macs_float == 32   # memory once, MACs twice


def test_layers_not_run_and_run_twice():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act, self.unused = nn.Linear(3, 3), BinaryActivation('st'), nn.Conv2d(1, 1, 1)
        def forward(self, x): return self.lin(self.act(self.lin(x)))
    torch.manual_seed(0)
    s = model_summary(Net(), torch.randn(1, 3))
    lin, unused = s.rows
    assert (lin.precision, lin.macs_float, lin.macs_mixed) == ('mixed', 9, 9)
    assert (unused.precision, unused.out_shape, unused.macs, unused.nbytes) == ('not run', None, 0, 8)


def test_conv1d_macs():
    conv = nn.Conv1d(2, 4, 3, stride=2, bias=False)
    s = model_summary(conv, torch.randn(1, 2, 11))
    assert s.rows[0].out_shape == (4, 5) and s.rows[0].macs_float == 5 * conv.weight.numel()


def test_tables():
    s = model_summary(small_bnn(), torch.randn(1, 1, 5, 5))
    text, md = str(s), s._repr_markdown_()
    assert repr(s) == text and isinstance(s, ModelSummary)
    lines = text.splitlines()
    assert lines[0] == 'Sequential, one example of shape (1, 5, 5)' and lines[1].split()[0] == 'layer'
    table = lines[1:1 + len(s.rows) + 4]                                       # header, rule, rows, rule, total
    assert table[-1].startswith('total') and len({len(l) for l in table}) == 1     # fixed-width columns
    assert all(f'`{r.name}`' in md for r in s.rows) and md.count('\n|') == 2 + len(s.rows) + 1
    for l in s.footer(): assert l in text and f'- {l}' in md
    assert f'compression ratio {s.compression:.2f}' in text and math.isclose(s.compression, s.total.fp32_bytes / s.total.nbytes)


def test_sbn_train_summary(capsys):
    "`sbn-train --summary` prints the summary of the network a recipe deploys (after its stages' transforms) and exits 0."
    from sbn_estimators.train import train_cli
    train_cli(['--recipe', 'binaryduo_digits', '--summary'])
    out = capsys.readouterr().out
    assert out.startswith('QuantMLP, one example of shape (64,)') and 'DuoBinary' in out and 'compression ratio' in out


def rows(s): return [(r.name, r.precision, r.macs_binary, r.macs_mixed, r.macs_float) for r in s.rows]


def test_network_input_precision_needs_a_binary_code():
    "The network input is binary only when x is a ±1 or {0, 1} code; a constant (all-zero) x is no evidence of one."
    net = SBNMLP([2, 3, 1])
    for x in (torch.zeros(1, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)):
        assert model_summary(net, x).rows[0].precision == 'float', x
    for x in (sign_pm(torch.randn(8, 2, dtype=torch.float64)), torch.tensor([[0., 1.]], dtype=torch.float64)):
        assert model_summary(net, x).rows[0].precision == 'binary', x
    assert [r.precision for r in model_summary(net, torch.zeros(1, 2, dtype=torch.float64)).rows] == ['float', 'binary']


def test_ternary_units_are_ternary_whatever_the_batch():
    "duo_mlp's two layers on Quantize(2) units: 'ternary' both, with the same MAC split for every batch."
    torch.manual_seed(0)
    duo = get_model('duo_mlp', 'st', in_shape=(64,))
    want = [('0', 'float', 0, 0, 64 * 70), ('1', '', 0, 0, 0), ('3', 'ternary', 0, 70 * 70, 0), ('4', '', 0, 0, 0),
            ('6', 'ternary', 0, 70 * 10, 0)]
    for x in (torch.zeros(1, 64), torch.randn(1, 64), torch.rand(1, 64), 5 * torch.randn(7, 64)):
        assert rows(model_summary(duo, x)) == want


def test_levels_of_the_quantizers():
    torch.manual_seed(0)
    for steps, want in ((1, 'binary'), (2, 'ternary'), (3, '2-bit'), (7, '3-bit')):
        assert model_summary(QuantMLP([4, 3, 2], act=lambda: Quantize(steps)), torch.randn(1, 4)).rows[-1].precision == want
    twin = nn.Sequential(nn.Linear(4, 3), DuoBinary(3), nn.Linear(6, 2))   # BinaryDuo's {0, 1} units
    assert [r.precision for r in model_summary(twin, torch.randn(1, 4)).rows if r.macs] == ['float', 'binary']


def test_precision_passes_through_value_preserving_modules_only():
    "Max-pool, flatten, dropout and views keep a unit's precision; average pooling and functions the summary does not know make floats."
    def net(between, act=lambda: BinaryActivation('st')):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), act(), *between, nn.Flatten(), nn.Dropout(), nn.Linear(2 * 2 * 2, 3))
    x = torch.randn(1, 1, 4, 4)
    assert model_summary(net([nn.MaxPool2d(2)]), x).rows[-1].precision == 'binary'
    assert model_summary(net([nn.AvgPool2d(2)]), x).rows[-1].precision == 'float'
    class Sign(nn.Module):
        def forward(self, a): return torch.sign(a)
    assert model_summary(net([nn.MaxPool2d(2)], act=Sign), x).rows[-1].precision == 'float'   # not a known quantizer
