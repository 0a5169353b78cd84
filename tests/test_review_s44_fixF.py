"""Review s44 (fix F): BinaryDuo's binary `Quantize` refuses a sampling (stochastic) backward proxy, in its constructor, through
`set_proxy`, in `decouple` and in `sbn-train` (one line, exit 2): the backward of zgr, darn, concrete, gumbel_rao, reinmax, gst and
decoupled_st belongs to a state they draw themselves, which the quantiser's forward never outputs, so two backwards of the same
output differed."""
import pytest, torch
from torch import nn
from sbn_estimators.binaryduo import Quantize, QuantMLP, decouple
from sbn_estimators.mismatch import set_proxy
from sbn_estimators.estimators import estimator
from sbn_estimators.train import train_cli

SAMPLING = ['zgr', 'darn', 'concrete', 'gumbel_rao', 'reinmax', 'gst', 'decoupled_st']
DETERMINISTIC = ['approx_sign', 'clipped_st', 'ede', 'identity_st', 'mean_field', 'progressive_sign', 'rbnn', 'reste', 'st', 'swish_sign']


def fails(f, message):
    with pytest.raises(ValueError) as e: f()
    assert message in str(e.value), str(e.value)
    return str(e.value)


@pytest.mark.parametrize('spec', SAMPLING)
def test_quantize_refuses_a_sampling_proxy(spec):
    msg = fails(lambda: Quantize(1, proxy=spec), f"proxy {spec!r} samples (stochastic)")
    assert msg.endswith('a Quantize proxy must be a deterministic local estimator: ' + ', '.join(DETERMINISTIC)), msg
    fails(lambda: Quantize(1, proxy=estimator(spec)), "samples (stochastic)")   # an instance too


@pytest.mark.parametrize('spec', DETERMINISTIC)
def test_quantize_backward_is_a_function_of_its_input(spec):
    q = Quantize(1, proxy=spec)
    y = torch.linspace(-1, 2, 61, dtype=torch.float64, requires_grad=True)
    g1, g2 = (torch.autograd.grad(q(y).sum(), y)[0] for _ in range(2))
    assert torch.equal(g1, g2)


def test_set_proxy_refuses_a_sampling_proxy_for_quantize_and_changes_nothing():
    net = QuantMLP([4, 3, 3, 2], lambda: Quantize(1, proxy='clipped_st'))
    fails(lambda: set_proxy(net, 'zgr'), "proxy 'zgr' samples (stochastic)")
    assert [m.proxy.name for m in net.modules() if isinstance(m, Quantize)] == ['clipped_st', 'clipped_st']
    q = Quantize(1)
    with pytest.raises(ValueError, match=r"proxy 'darn' samples \(stochastic\)"): q.proxy = estimator('darn')
    assert q.proxy is None
    set_proxy(net, 'approx_sign')   # a deterministic one still reaches every unit
    assert [m.proxy.name for m in net.modules() if isinstance(m, Quantize)] == ['approx_sign', 'approx_sign']


def test_decouple_refuses_a_sampling_proxy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Linear(3, 2))
    fails(lambda: decouple(net, proxy='concrete'), "proxy 'concrete' samples (stochastic)")


@pytest.mark.parametrize('recipe,spec', [('binaryduo_digits', 'zgr'), ('binaryduo_digits_baseline', 'darn')])
def test_train_cli_refuses_a_sampling_estimator_for_quantize(recipe, spec, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e: train_cli(['--recipe', recipe, '--estimator', spec, '--smoke', '--threads', '1'])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"proxy {spec!r} samples (stochastic)" in err, err
