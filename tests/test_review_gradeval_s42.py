"""Review s42 of pages 04, 04a and 10d: proxies whose forward is not sign(a) refused; cosines at any scale; an exact
gradient that is only rounding refused; damaged partial reports refused on --resume; a zero proxy gradient's cosines;
deterministic estimators without a resolution; the toy network's counts; binary_moments' variances; page 10d's report."""
import json, math, re
import pytest
import torch
from torch import nn
from conftest import ROOT
from sbn_estimators.estimators import estimator
from sbn_estimators.gradeval import accuracy_curves, gradient_metrics, gradient_report, read_report, report_table, train_toy_sbn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import _cos, mismatch, plot_mismatch, proxy_estimator
from sbn_estimators.adf import binary_moments
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_, save_sbn

SAMPLING = ['concrete', 'darn', 'decoupled_st', 'gst', 'gumbel_rao', 'reinmax', 'st_gumbel', 'zgr']


def toy(scale_first=1., zero_head=False):
    "The 2-5-5-1 toy on 20 points, its first layer's weights and biases times `scale_first`, or its head's weights zero."
    X, Y = cos_data(seed=0)
    net = init_sbn_(SBNMLP([2, 5, 5, 1]), X, seed=0)
    with torch.no_grad():
        net.layers[0].weight.mul_(scale_first); net.layers[0].bias.mul_(scale_first)
        if zero_head: net.layers[2].weight.zero_()
    return net, X[:20], Y[:20]


def binary_net(seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(64, 16, bias=False), nn.BatchNorm1d(16), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(16, 10))
    return net, torch.randn(32, 64, generator=g), torch.randint(0, 10, (32,), generator=g)


from test_gradeval_cli import one_line_error   # its one-line errors (sbn-gradeval in this process: the `call` fixture of conftest)


# ---- 1. proxies

@pytest.mark.parametrize('name', SAMPLING)
def test_a_sampling_proxy_is_refused(name):
    "Their numbers depended on the global random state (concrete 0.0931 after manual_seed(1), 0.0938 after (2))."
    assert estimator(name).stochastic
    with pytest.raises(ValueError, match=rf"proxy '{name}': its forward samples \(stochastic\)"):
        proxy_estimator(name)
    with pytest.raises(ValueError, match=rf"proxy '{name}': its forward samples"):
        proxy_estimator(estimator(name))


@pytest.mark.parametrize('name', ['mean_field', 'progressive_sign'])
def test_a_proxy_whose_forward_is_not_sign_is_refused(name):
    with pytest.raises(ValueError, match=rf"proxy '{name}': its forward is not sign\(a\) \(it gives .* at a = "):
        proxy_estimator(name)
    net, x, y = binary_net()
    with pytest.raises(ValueError, match=rf"proxy '{name}': its forward is not sign"):
        mismatch(net, x, y, proxies=[name], samples=4)


def test_the_own_backward_is_held_to_the_same_rule():
    net, x, y = binary_net()
    net[2] = BinaryActivation('concrete')
    with pytest.raises(ValueError, match=r"proxies: None measures the model's own backward, and unit '2' has proxy 'concrete': its forward samples"):
        mismatch(net, x, y, proxies=[None], samples=4)


def test_the_valid_proxies_are_accepted_and_reproducible():
    net, x, y = binary_net()
    for name in ('approx_sign', 'clipped_st', 'ede', 'identity_st', 'rbnn', 'reste', 'st', 'swish_sign'):
        proxy_estimator(name)
    runs = []
    for s in (1, 2):
        torch.manual_seed(s)
        runs.append(mismatch(net, x, y, proxies=['st', 'reste'], samples=20, names=['0.weight'])['cos'])
    assert runs[0] == runs[1]


# ---- 2. cosines at any scale

def test_cosines_do_not_depend_on_the_scale():
    "F.cosine_similarity's eps 1e-8: cos_1 0.98 at scale 1, 0.085 at 1e-9, 0 at 1e-12."
    torch.manual_seed(0)
    g = torch.randn(5, dtype=torch.float64)
    est = g + 0.3 * torch.randn(50, 5, dtype=torch.float64)
    ref = torch.stack([e @ g / (e.norm() * g.norm()) for e in est]).mean().item()
    for s in (1., 1e-9, 1e-12, 1e-30):
        assert gradient_metrics(est * s, g * s)['cos_1'] == pytest.approx(ref, abs=1e-12)
        assert accuracy_curves(est * s, g * s, Ms=[1])['cos'][0] == pytest.approx(ref, abs=1e-12)
        assert _cos(est[0] * s, g * s) == pytest.approx((est[0] @ g / (est[0].norm() * g.norm())).item(), abs=1e-12)
    assert gradient_metrics(torch.cat([torch.zeros(1, 5, dtype=torch.float64), est[:1]]), g)['cos_1'] == pytest.approx(
        _cos(est[0], g) / 2, abs=1e-12)   # a zero estimate has cosine 0


def test_a_saturated_layer_keeps_its_cosine():
    "W0, b0 times 1e3: exact gradient of layer 0 about 6e-26; sbn-gradeval printed cos_1 3e-35 where it is 1."
    net, X, Y = toy(scale_first=1e3)
    r = gradient_report(net, X, Y, 'exact', samples=2, progress=False)
    assert torch.tensor(r['exact_grad']['layer-0']).norm() < 1e-20
    assert [g['cos_1'] for g in r['estimators']['exact']['groups']] == pytest.approx([1.] * 3, abs=1e-12)


def test_the_mismatch_identity_holds_at_any_scale():
    "corrected = cos / ceiling, also when the reference is tiny (the last layer's weights times 1e-9)."
    torch.manual_seed(4)
    real = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)).double()
    from sbn_estimators.data import get_data
    digits = get_data('digits')
    x, y = digits.input(digits.splits['train'][0][:256]).double(), digits.splits['train'][1][:256]
    with torch.no_grad(): real[2].weight.mul_(1e-9); real[2].bias.mul_(1e-9)
    r = mismatch(real, x, y, rel_sigma=0.2, samples=200, seed=3, names=['0.weight'])
    assert r['ceiling']['0.weight'] > 0.2 and r['cos']['own']['0.weight'] > 0.2   # was about 0: the gradients' norms are below 1e-8
    assert r['cos_corrected']['own']['0.weight'] == pytest.approx(r['cos']['own']['0.weight'] / r['ceiling']['0.weight'], rel=1e-9)


# ---- 3. an exact gradient that is only rounding

def test_an_exact_gradient_at_the_rounding_level_is_refused(tmp_path, call):
    "Head weights 0: layers 0 and 1 have true gradient 0, computed as 2e-17; st's exact zeros got rel_bias 1, p 0."
    net, X, Y = toy(zero_head=True)
    with pytest.raises(ValueError, match=r"exact: the exact gradients of layer-0 \(norm .*, rounding bound .*\) and layer-1 .* are zero "
                                         r"up to the rounding of float64"):
        gradient_report(net, X, Y, 'st,reinforce', samples=20, progress=False)
    save_sbn(tmp_path / 'zero.npz', net, X, Y)
    one_line_error(call(['zero.npz', '--estimators', 'st,reinforce', '--samples', '20']), 'layer-0 (norm', 'zero up to the rounding')
    assert not (tmp_path / 'gradeval.json').exists()


# ---- 4. damaged partial reports

@pytest.mark.parametrize('damage, says', [
    (lambda st: st['curves'].pop('layer-1'), "its curves are of ['layer-0', 'layer-2']"),
    (lambda st: st['groups'][0].pop('rel_bias'), "group 'layer-0' lacks a number for rel_bias"),
    (lambda st: st['groups'][1].update(group='layer-9'), "its groups are ['layer-0', 'layer-9', 'layer-2']"),
    (lambda st: st['curves']['layer-0'].pop('cos_q85'), "its curves of 'layer-0' lack cos_q85")])
def test_a_damaged_partial_report_is_refused_on_resume(tmp_path, call, damage, says):
    "It was reused, the report written, then plot_report/report_table crashed with a KeyError (exit 1)."
    net, X, Y = toy()
    save_sbn(tmp_path / 'small.npz', net, X, Y)
    args = ('small.npz', '--estimators', 'st,arm', '--samples', '20', '--json', 'r.json', '--plot', 'r.png')
    assert call(args).returncode == 0
    report = json.loads((tmp_path / 'r.json').read_text())
    report.pop('environment'); damage(report['estimators']['st'])
    (tmp_path / 'r.json.partial').write_text(json.dumps(report))
    (tmp_path / 'r.json').unlink()
    one_line_error(call([*args, '--resume']), '--resume: ', 'r.json.partial is not a complete gradeval report', "estimators['st']", says)
    assert not (tmp_path / 'r.json').exists()


# ---- 5. a proxy with a zero gradient

def test_a_zero_proxy_gradient_has_cosines_0_and_the_plot_keeps_every_bar():
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    net, x, y = binary_net()
    p = 'clipped_st:threshold=0.0001'
    r = mismatch(net, x, y, proxies=[p, 'identity_st'], samples=40, names=['0.weight'])
    assert (r['cos'][p]['0.weight'], r['cos_corrected'][p]['0.weight']) == (0., 0.)   # was NaN
    noisy = dict(r, ceiling={'0.weight': 0.}, cos={p: r['cos'][p]}, cos_corrected={p: {'0.weight': math.nan}})   # no signal: no corrected cosine
    fig = plot_mismatch({'noisy': noisy, 'narrow': dict(r, cos={p: r['cos'][p]}, cos_corrected={p: r['cos_corrected'][p]})})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ['n/a'] and all(math.isfinite(b.get_height()) for b in ax.patches)
    plt.close(fig)


# ---- 7. deterministic estimators

def test_a_deterministic_biased_estimator_fails_with_few_samples():
    "mean_field with 2 samples: rel_bias 0.41 and p_unbiased 1 (the resolution of 2 draws swallowed the bias)."
    net, X, Y = toy()
    groups = gradient_report(net, X, Y, 'mean_field,exact', samples=2, progress=False)['estimators']
    assert all(g['p_unbiased'] == 0 and g['rel_resolution'] == 0 for g in groups['mean_field']['groups'])
    assert all(g['p_unbiased'] == 1 for g in groups['exact']['groups'])
    g = torch.tensor([1., 2.], dtype=torch.float64)
    assert gradient_metrics((g + 0.1).expand(2, -1), g, stochastic=False)['p_unbiased'] == 0
    assert gradient_metrics((g + 0.1).expand(2, -1), g)['p_unbiased'] == 1   # bare estimates: draws
    with pytest.raises(ValueError, match="stochastic must be True or False, got 1"):
        gradient_metrics(g.expand(2, -1), g, stochastic=1)


# ---- 8. the toy network's counts

@pytest.mark.parametrize('kw, says', [(dict(epochs=2.5), 'epochs must be an integer >= 0, got 2.5'),
                                      (dict(epochs='3'), "epochs must be an integer >= 0, got '3'"),
                                      (dict(epochs=True), 'epochs must be an integer >= 0, got True'),
                                      (dict(epochs=-1), 'epochs must be an integer >= 0, got -1'),
                                      (dict(batch_size=2.5), 'batch_size must be an integer >= 1, got 2.5'),
                                      (dict(batch_size=0), 'batch_size must be an integer >= 1, got 0')])
def test_train_toy_sbn_checks_its_counts(kw, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        train_toy_sbn(**{'epochs': 0, **kw})


# ---- 9. binary_moments

def test_binary_moments_refuses_a_negative_variance():
    mu = torch.tensor([0.5], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"var: the pre-activation variances must be >= 0, got -5"):
        binary_moments(mu, torch.tensor([-5.], dtype=torch.float64))
    m, v = binary_moments(mu, 0)
    assert torch.isfinite(m).all() and torch.isfinite(v).all()


# ---- 6. page 10d's stored report

def test_page_10d_report_holds_what_its_table_needs():
    "It lacked `stochastic` and `params`: the table listed mean_field's 'unresolved' coordinate; its header lacked the chunk."
    path = ROOT / 'nbs' / 'data' / 'gradeval_chk100_adf.json'
    report = read_report(path, resume=True)
    assert all(isinstance(r.get('stochastic'), bool) and isinstance(r.get('params'), dict) for r in report['estimators'].values())
    assert report['estimators']['mean_field']['stochastic'] is False
    table = report_table(report)
    assert table.splitlines()[0].endswith('(20000 samples per estimator, seed 0, chunk 500)') and 'mean_field layer' not in table
