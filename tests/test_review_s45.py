"""Review s45: checks added in session 45. Every `Noise` function of an integer or bool tensor is the float32 function
of the same values (the normal cdf/pdf/log_cdf were rounded back to the integer dtype, the triangular pdf stayed
integer, and uint8 inputs wrapped around under negation)."""
import math, pytest, torch
from sbn_estimators.core import NOISES


@pytest.mark.parametrize('noise', list(NOISES))
@pytest.mark.parametrize('dtype', [torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool])
def test_noise_functions_of_integers_are_float(noise, dtype):
    a = torch.tensor([0, 1, 3]).to(dtype)
    for f in ('cdf', 'pdf', 'log_cdf', 'mean'):
        got, ref = getattr(NOISES[noise], f)(a), getattr(NOISES[noise], f)(a.float())
        assert got.dtype == torch.float32, (f, got.dtype)
        torch.testing.assert_close(got, ref, rtol=0, atol=0, msg=f)
    if noise == 'normal':   # Phi(0), Phi(1), Phi(3): the values the integer path rounded to 0
        torch.testing.assert_close(NOISES[noise].cdf(a), torch.special.ndtr(a.float()))


SIGINT_WHILE_IMPORTING = """
import os, signal, sys
sys.argv[0] = {cmd!r}   # as the console script starts it
import sbn_estimators   # the package holds SIGINT while torch and numpy import
os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C pressed while the modules load
from sbn_estimators.{module} import {fn}
{fn}({argv!r})
print('ran on')
"""


@pytest.mark.parametrize('cmd, module, fn, argv', [('sbn-train', 'train', 'train_cli', ['--list']),
                                                   ('sbn-gradeval', 'gradeval', 'gradeval_cli', ['--list']),
                                                   ('sbn-bench', 'bench', 'bench_cli', ['--list'])])
def test_ctrl_c_while_the_command_imports_is_one_line_and_130(cmd, module, fn, argv):
    "A Ctrl-C while the command imports (the signal was once swallowed by numpy's import, and the run went on) ends as one line, status 130."
    import signal, subprocess, sys
    script = SIGINT_WHILE_IMPORTING.format(cmd=cmd, module=module, fn=fn, argv=argv)
    p = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as from a terminal, whatever pytest inherited (a run started with `&` ignores SIGINT)
    assert (p.returncode, p.stderr, p.stdout) == (130, f"{cmd}: interrupted\n", ''), (p.returncode, p.stderr[-500:], p.stdout[-300:])


def test_an_imported_package_holds_no_signal():
    "Imported by a program (not started as a command), the package leaves the signal mask alone."
    import signal, sbn_estimators
    assert not sbn_estimators._HOLDS_SIGINT and signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.mark.parametrize('name', ['adf', 'local_reparam'])
@pytest.mark.parametrize('layer', [0, 1])
def test_adf_gradients_stay_finite_in_float16_where_a_layer_saturates(name, layer):
    "A saturated layer has variance 0: the square root's gradient there was inf (float16 rounds the old 1e-30 floor to 0), then NaN."
    from sbn_estimators.estimators import estimator
    from sbn_estimators.sbn import SBNMLP
    torch.manual_seed(0)
    net = SBNMLP([2, 3, 3, 1], dtype=torch.float16)
    with torch.no_grad(): net.layers[layer].weight.fill_(0.); net.layers[layer].bias.copy_(torch.tensor([20., -20., 25.]))
    x = torch.randn(4, 2).half(); y = torch.tensor([[1.], [-1.], [1.], [-1.]]).half()
    torch.manual_seed(1)
    estimator(name).surrogate(net, x, y).backward()
    assert all(p.grad.isfinite().all() for p in net.parameters())


def test_spawned_children_of_a_command_hold_no_signal(tmp_path):
    "A `spawn` child copies the command's argv before it imports the package: it must not hold SIGINT (nothing would release it)."
    import subprocess, sys
    script = tmp_path / 'sbn-train'
    script.write_text("import multiprocessing as mp, signal\n"
                      "def child():\n    import sbn_estimators\n"
                      "    print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []), flush=True)\n"
                      "if __name__ == '__main__':\n    import sbn_estimators\n"
                      "    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
                      "    p = mp.get_context('spawn').Process(target=child); p.start(); p.join()\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert (p.returncode, p.stdout) == (0, 'False\n'), (p.returncode, p.stdout, p.stderr[-500:])


def test_exact_loss_of_an_infinite_loss_is_inf_not_nan():
    "The per-example baseline is skipped where the expected loss is infinite (inf - inf was NaN)."
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.exact import exact_loss
    torch.manual_seed(0)
    net = SBNMLP([2, 2, 2], loss='cross_entropy', dtype=torch.float32)
    with torch.no_grad(): net.layers[-1].weight.copy_(torch.tensor([[1e38, 1e38], [-1e38, -1e38]]))
    x, y = torch.randn(3, 2), torch.tensor([1, 1, 1])
    assert torch.equal(exact_loss(net, x, y, reduction='none'), torch.full((3,), math.inf))


def test_straight_through_stochastic_can_be_set():
    "`stochastic` follows `deterministic`; setting it sets `deterministic`, as it could before it became a property."
    from sbn_estimators.estimators import estimator
    e = estimator('st'); e.stochastic = False
    assert e.deterministic and not e.stochastic
    e.stochastic = True
    assert not e.deterministic and e.stochastic
    with pytest.raises(ValueError, match="stochastic must be True or False, got 0"): e.stochastic = 0


def test_adf_std_keeps_nan():
    from sbn_estimators.adf import _std
    out = _std(torch.tensor([math.nan, 0., 4.]))
    assert out[0].isnan() and out[1:].tolist() == [0., 2.]


def test_a_comparison_of_an_earlier_version_with_augment_true_is_read(tmp_path):
    "Earlier versions recorded augment true for every run, augmented or not: their finished comparison folders still read."
    import json
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import run_comparison
    base = TrainConfig(data='digits', model='sbn_mlp:width=16', epochs=1, device='cpu', n_train=200, n_test=50, eval_samples=2)
    methods, grid = {'st': dict(estimator='st')}, (1e-3,)
    first = run_comparison(base, methods, tmp_path, seeds=(0,), grid=grid, log=None)[0]
    for f in tmp_path.rglob('*.json'):   # as an earlier version wrote them
        f.write_text(f.read_text().replace('"augment": null', '"augment": true'))
    assert '"augment": true' in (tmp_path / 'st' / 'seed0' / 'summary.json').read_text()
    again = run_comparison(base, methods, tmp_path, seeds=(0,), grid=grid, log=None)[0]
    assert again['test_acc'] == first['test_acc']
