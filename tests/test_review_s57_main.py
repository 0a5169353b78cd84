"Review s57 (main): gradeval's hint for a moot scheduled parameter fits every scheduled estimator."
import re
import pytest
import torch
from sbn_estimators.gradeval import gradeval_cli

@pytest.mark.parametrize('spec, name', [('progressive_sign:alpha=2', 'progressive_sign'), ('ede:t_max=5', 'ede')])
def test_moot_schedule_hint_names_the_estimators_fix(capsys, spec, name):
    with pytest.raises(SystemExit) as e: gradeval_cli(['--estimators', f'exact,{spec}', '--samples', '10', '--epochs', '0'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert 'would be ignored' in err and f'for {name}' in err, err

def test_plot_report_refuses_a_non_report():
    from sbn_estimators.gradeval import plot_report
    with pytest.raises(ValueError, match="report is not a gradeval report: it needs an 'estimators' object"): plot_report({})
    with pytest.raises(ValueError, match=r"estimators\[.a.\]: it has no curves"): plot_report({'estimators': {'a': {'groups': []}}, 'exact_grad': {'W0': [0.]}})


def test_bench_failed_write_says_an_earlier_runs_file_is_untouched(tmp_path, monkeypatch, capsys):
    "Review s57 (today's change): a failed first write leaves an earlier run's file; the line says so instead of implying nothing is there."
    import contextlib, errno
    from sbn_estimators import cli
    from sbn_estimators.bench import bench_cli
    row = dict(net='fc', device='cpu', batch=2, threads=1, estimator='st', dtype='float32', seconds=0.01, time_ratio_to_st=1.0,
               peak_mem_mib=1.0, mem_ratio_to_st=1.0, warmup_seconds=0.1, seconds_iqr=0.001)
    monkeypatch.setattr('sbn_estimators.bench._child_cases', lambda kwargs: [dict(row)])
    out = tmp_path / 'b.jsonl'
    out.write_text('{"old": 1}\n')
    @contextlib.contextmanager
    def full(path): raise OSError(errno.ENOSPC, 'No space left on device'); yield
    monkeypatch.setattr(cli, 'atomic_path', full)
    with pytest.raises(SystemExit) as e:
        bench_cli(['--nets', 'fc', '--devices', 'cpu', '--estimators', 'st', '--repeats', '3', '--json', str(out), '--quiet'])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert f"their table is above; writing {out} failed (it is as an earlier run left it)" in err, err
    assert out.read_text() == '{"old": 1}\n'


def test_plot_report_draws_a_report_older_than_the_newer_metrics():
    "Review s57 (today's change): plot_report checks what it draws, not what a resume reuses (old reports lack rel_resolution, unresolved)."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from sbn_estimators.gradeval import gradient_report, plot_report, train_toy_sbn
    net, X, Y = train_toy_sbn(epochs=0)
    rep = gradient_report(net, X, Y, ['st'], samples=20, progress=False)
    for r in rep['estimators'].values():
        for g in r['groups']: g.pop('rel_resolution'); g.pop('unresolved')
    plt.close(plot_report(rep))
    rep['estimators']['st']['curves'].popitem()
    with pytest.raises(ValueError, match=r"report cannot be drawn: estimators\['st'\]: its curves are of"): plot_report(rep)


def test_stats_refuse_arguments_of_the_wrong_type_naming_them():
    "Review s57 (input types): a string alpha, p or count, or integer points, get a ValueError naming the argument, not torch's TypeError."
    import numpy as np
    from sbn_estimators import stats
    for call in (lambda: stats.z_threshold(10, alpha='0.001'), lambda: stats.z_test({'w': torch.zeros(20, 2)}, {'w': torch.zeros(2)}, alpha='0.001'),
                 lambda: stats.resolution(torch.zeros(20, 2), torch.zeros(2), alpha=True)):
        with pytest.raises(ValueError, match='alpha must be a number in'): call()
    with pytest.raises(ValueError, match='p must be probabilities'): stats.binomial_z(torch.tensor([1., 2.]), 10, '0.5')
    with pytest.raises(ValueError, match='count must be success counts'): stats.binomial_z('3', 10, 0.5)
    for a in (torch.tensor([1, 2]), [1., 2.], np.array([1., 2.])):
        with pytest.raises(ValueError, match='a must be a floating torch.Tensor'): stats.slope(torch.tanh, a)
    assert stats.z_threshold(10, alpha=np.float64(1e-3)) == stats.z_threshold(10)


def test_meta_inputs_get_the_device_message_and_sample_states_names_numpy():
    "Review s57 (input types): x on the meta device is refused as on another device, at every entry (autocast has no meta device)."
    import numpy as np
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.exact import exact_loss
    from sbn_estimators.estimators import estimator
    from sbn_estimators.core import sample_states
    net, Y = SBNMLP([3, 4, 1]), torch.ones(5, 1)
    net64 = SBNMLP([3, 4, 1]).double()
    for call in (lambda: exact_loss(net64, torch.zeros(5, 3, dtype=torch.float64, device='meta'), Y),
                 lambda: estimator('st').surrogate(net, torch.zeros(5, 3, dtype=torch.float64, device='meta'), Y.double())):
        with pytest.raises(ValueError, match='meta'): call()
    with pytest.raises(ValueError, match='a must be a torch.Tensor of pre-activations, got ndarray'): sample_states(np.zeros(3))



def _cauchy():
    import math
    from sbn_estimators.core import Noise
    class Cauchy(Noise):
        "Standard Cauchy noise: F(a) = 1/2 + atan(a)/pi, in (0, 1) for every a."
        name = 'cauchy'
        full_support = True
        def cdf(self, a): return 0.5 + torch.atan(a) / math.pi
        def pdf(self, a): return 1 / (math.pi * (1 + a * a))
        def sample(self, shape, device=None, dtype=None): return torch.distributions.Cauchy(0., 1.).sample(shape).to(device=device, dtype=dtype or torch.get_default_dtype())
    return Cauchy


@pytest.mark.parametrize('spec', ['arm', 'disarm', 'ugc'])
def test_logit_estimators_take_ones_own_full_support_noise_and_stay_unbiased(spec):
    "Review s57 (leftover of s56): arm, disarm, arms and ugc need only 0 < F < 1; a noise of one's own that says so (full_support) is taken, and the estimate is unbiased (z-test against exact)."
    from sbn_estimators.sbn import SBNMLP, init_sbn_, cos_data
    from sbn_estimators.estimators import estimator, draw_estimates
    from sbn_estimators.stats import z_test
    torch.set_num_threads(1)
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 4, 3, 1], noise=_cauchy()()), X, seed=3)
    xs, ys = X[::10], Y[::10]
    exact = {k: v[0] for k, v in draw_estimates(net, xs, ys, estimator('exact'), 1).items()}
    torch.manual_seed(0)
    z, t, ok = z_test(draw_estimates(net, xs, ys, estimator(spec), 3000, chunk=1000), exact, extra_tests=3)
    assert ok, f"{spec}: max|z| {z:.2f} >= {t:.2f}"


def test_logit_estimators_refuse_a_noise_without_full_support_naming_it():
    from sbn_estimators.sbn import SBNMLP, cos_data
    from sbn_estimators.estimators import estimator
    X, Y = cos_data()
    Bounded = type('Bounded', (_cauchy(),), {'name': 'bounded', 'full_support': False})
    for noise, shown in (('uniform', 'uniform noise'), (Bounded(), 'Bounded() noise')):
        with pytest.raises(ValueError, match=f"arm needs a noise with 0 < F.*full_support.*the network has {re.escape(shown)}"):
            estimator('arm').surrogate(SBNMLP([2, 3, 1], noise=noise), X[:4], Y[:4])


def test_no_download_overrides_a_config_files_download_under_smoke(tmp_path, capsys):
    "Review s57 (today's change): an explicit --no-download beats the file's download: true, as every option beats the file."
    from sbn_estimators.train import train_cli
    cfg = tmp_path / 'c.json'; cfg.write_text('{"data": "fashion_mnist", "download": true}')
    train_cli(['--smoke', '--threads', '1', '--config', str(cfg), '--data-dir', str(tmp_path), '--no-download',
               '--model', 'sbn_mlp:width=8', '--eval-samples', '1'])
    assert 'smoke run of' in capsys.readouterr().out
