"""Review s44, fix B: plot_mismatch's panel titles (the weight's place in the model) and its argument checks; infinite
estimates refused by gradient_metrics and accuracy_curves; sbn-gradeval --resume refuses other --samples/--seed/--chunk
before training or enumerating; sbn-bench's table names the dtype."""
import json, math
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
import sbn_estimators.gradeval as ge
from sbn_estimators.gradeval import accuracy_curves, gradient_metrics, read_report, train_toy_sbn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch, plot_mismatch, proxy_estimator, weight_names
from sbn_estimators.sbn import save_sbn
from sbn_estimators.bench import bench_cli


# ---- plot_mismatch

@pytest.fixture(scope='module')
def mm():
    "A binary MLP with a bias-free first layer and a head, one batch, and mismatch results of several layer lists."
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(6, 3))
    x, y = torch.randn(16, 8, generator=g), torch.randint(0, 3, (16,), generator=g)
    run = lambda **kw: mismatch(net, x, y, rel_sigma=0.5, samples=8, chunk=8, **kw)
    return dict(net=net, both=run(proxies=['st', 'clipped_st']), first=run(proxies=['st'], names=['0.weight']),
                swapped=run(proxies=['st'], names=['3.weight', '0.weight']), bias=run(proxies=['st'], names=['3.bias']))

def titles(results, **kw):
    fig = plot_mismatch(results, **kw)
    try: return [ax.get_title() for ax in fig.axes]
    finally: plt.close(fig)

def test_mismatch_records_the_models_weights(mm):
    assert mm['first']['model_weights'] == weight_names(mm['net']) == ['0.weight', '3.weight']

def test_panels_are_titled_by_the_weights_place_in_the_model(mm):
    "Old: the position in `names`, the last one '(output)': ['0.weight'] gave 'layer 1 weights (output)'."
    assert titles({'a': mm['first']}) == ['layer 1 weights']
    assert titles({'a': mm['swapped']}) == ['layer 2 weights (output)', 'layer 1 weights']
    assert titles({'a': mm['both']}, proxy='st') == ['layer 1 weights', 'layer 2 weights (output)']
    assert titles({'a': mm['bias']}) == ['3.bias']   # not a Linear/Conv2d weight: its name
    old = {k: v for k, v in mm['first'].items() if k != 'model_weights'}   # a result that does not record the model's weights
    assert titles({'a': old}) == ['0.weight']

def test_plot_mismatch_refuses_a_proxy_a_result_lacks(mm):
    "Old: a bare KeyError."
    with pytest.raises(ValueError, match=r"proxy: 'nope' is not a proxy of results\['a'\], whose proxies are \['st', 'clipped_st'\]"):
        plot_mismatch({'a': mm['both']}, proxy='nope')

def test_plot_mismatch_refuses_no_results():
    "Old: a bare StopIteration."
    with pytest.raises(ValueError, match=r"results must be a non-empty dict"): plot_mismatch({})
    with pytest.raises(ValueError, match=r"results\['a'\] must be a mismatch\(...\) result"): plot_mismatch({'a': {'cos': {}}})

def test_plot_mismatch_refuses_results_of_other_layers(mm):
    "Old: a KeyError in one order, silently only the first result's layers in the other."
    for a, b in ((mm['both'], mm['first']), (mm['first'], mm['both'])):
        with pytest.raises(ValueError, match=r"results: 'b' measures the layers .* and 'a' .*plot results of the same layers"):
            plot_mismatch({'a': a, 'b': b}, proxy='st')

def test_plot_mismatch_asks_which_of_several_proxies(mm):
    "Old: proxy=None silently showed the first of several proxies."
    with pytest.raises(ValueError, match=r"proxy: results\['a'\] holds 2 proxies \['st', 'clipped_st'\]; name the one to show, e.g. proxy='st'"):
        plot_mismatch({'a': mm['both']})


# ---- gradient_metrics, accuracy_curves

@pytest.mark.parametrize('f', [gradient_metrics, accuracy_curves])
def test_infinite_estimates_are_refused(f):
    "Old: accepted, with rel_bias, rel_std and cos_1 (every cosine of the curves) NaN."
    g = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    est = g + torch.randn(100, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    est[5, 1], est[6, 1], est[9, 0] = math.inf, -math.inf, math.nan
    with pytest.raises(ValueError, match=r"est: the estimates hold 1 NaN and 2 infinite value\(s\), the first at estimate 5, coordinate 1"):
        f(est, g)
    est[9, 0] = 0.
    with pytest.raises(ValueError, match=r"est: the estimates hold 0 NaN and 2 infinite value\(s\), the first at estimate 5, coordinate 1; .*torch.float64"):
        f(est, g)


# ---- sbn-gradeval --resume

from test_gradeval_cli import trained   # the toy trainings (gradeval_cli in this process: the `call` fixture of conftest, call(args) -> (status, stdout, stderr))

def partial_of(tmp_path, call, args):
    "Run `args`, then keep its report as the partial report an interrupted run leaves."
    assert call(args).returncode == 0
    report = read_report(tmp_path / 'gradeval.json')
    (tmp_path / 'gradeval.json.partial').write_text(json.dumps({k: v for k, v in report.items() if k != 'environment'}, default=str))

@pytest.mark.parametrize('option, value', [('--samples', '30'), ('--chunk', '7')])
def test_resume_refuses_other_settings_before_training_the_toy(tmp_path, call, option, value, trained):
    "Old: refused by gradient_report, after the toy network was trained."
    base = ['--epochs', '1', '--estimators', 'exact', '--samples', '20', '--plot', 'g.png']
    partial_of(tmp_path, call, base)
    trained.clear()
    r = call([*base, option, value, '--resume'])
    saved = {'--samples': 20, '--chunk': 500}[option]
    assert r.returncode == 2 and f"cannot resume: the saved report has {option[2:]} {saved}, this run {value}" in r.stderr, r.stderr
    assert not any(trained), trained

def test_resume_refuses_another_seed_before_enumerating_a_network_file(tmp_path, call, monkeypatch):
    "Old: refused by gradient_report, after the exact gradient of the file's network was enumerated."
    net, X, Y = train_toy_sbn(epochs=0)
    save_sbn(tmp_path / 'toy.npz', net, X, Y)
    base = ['toy.npz', '--estimators', 'exact', '--samples', '20', '--plot', 'g.png']
    partial_of(tmp_path, call, base)
    reached, report = [], ge.gradient_report
    monkeypatch.setattr(ge, 'gradient_report', lambda *a, **kw: (reached.append(1), report(*a, **kw))[1])
    r = call([*base, '--seed', '1', '--resume'])
    assert r.returncode == 2 and 'cannot resume: the saved report has seed 0, this run 1' in r.stderr, r.stderr
    assert not reached


# ---- sbn-bench

@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_bench_table_names_the_dtype(monkeypatch, capsys, dtype):
    "Old: a float64 run's table looked like a float32 one."
    row = dict(net='fc', device='cpu', batch=2, threads=1, estimator='st', dtype=dtype, seconds=0.01, time_ratio_to_st=1.0,
               peak_mem_mib=1.0, mem_ratio_to_st=1.0, warmup_seconds=0.1, seconds_iqr=0.001)
    seen = []
    monkeypatch.setattr('sbn_estimators.bench._child_cases', lambda kwargs: (seen.append(kwargs['dtype']), [dict(row)])[1])
    bench_cli(['--nets', 'fc', '--devices', 'cpu', '--estimators', 'st', '--repeats', '3', '--dtype', dtype])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert seen == [dtype] and f'; {dtype}; ' in last, last
