"Review s44, fix E: the trainer (14), the learning-rate search (13a), models (12), layers (11) and the lazy dynamo import of psa (10)."
import copy, dataclasses, json, math, os, re, subprocess, sys
from pathlib import Path
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators.train import TrainConfig, RECIPES, Diverged, train, load_checkpoint, _check_finite_step, _default_out
from sbn_estimators.models import get_model, check_compatible, compatibility_table, register_transform
from sbn_estimators.catalogue import CATALOGUE
from sbn_estimators.lr_search import run_comparison, search_lr, search_table
from conftest import sbn_train as cli

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
FASHION = Path('/usr/share/datasets/fashion-mnist')
INF = ['--threads', '1', '--model', 'sbn_mlp:width=8', '--optimizer', 'sgd', '--lr', '1e30', '--weight-decay', '1e30',
       '--n-train', '64', '--batch-size', '64', '--quiet']


# 1. a step that leaves non-finite weights stops the run before any evaluation or checkpoint of them

@pytest.mark.parametrize('epochs', ['1', '3'])
def test_weights_overflowing_in_the_last_step_stop_the_run(tmp_path, capsys, epochs):
    code, out, err = cli(capsys, *INF, '--epochs', epochs, '--out', str(tmp_path / 'r'))
    assert code == 1 and err.count('\n') == 1 and not out, (out, err)
    assert 'training diverged at epoch 1, step 1: the weights are not finite after the optimizer\'s step (lr 1e+30)' in err, err
    assert not (tmp_path / 'r').exists()   # nothing written: no result.json of a non-finite model, no non-finite last.pt

def test_non_finite_batch_norm_statistics_stop_the_run_with_the_last_finite_checkpoint(tmp_path, monkeypatch):
    built = []
    def build(cfg, data):
        built.append(T.build.__wrapped__(cfg, data)); return built[-1]
    build.__wrapped__ = T.build
    monkeypatch.setattr(T, 'build', build)
    def poison(epoch, row):   # after epoch 1's checkpoint: a running variance becomes inf (the training loss stays finite)
        if epoch == 1: next(b for n, b in built[0][0].named_buffers() if n.endswith('running_var')).fill_(float('inf'))
    with pytest.raises(Diverged, match=r'epoch 2, step 1: the batch-norm statistics \(buffers\) are not finite .*r keeps its checkpoints up to epoch 1 \(last.pt\)$'):
        train(TrainConfig(model='duo_mlp', epochs=3, eval_samples=1), tmp_path / 'r', callbacks=[poison], progress=False)
    ck = load_checkpoint(tmp_path / 'r' / 'last.pt')
    assert ck['epoch'] == 1 and all(torch.isfinite(v).all() for v in ck['model'].values() if v.is_floating_point())


# 6. the gradient check: finite entries whose norm overflows pass; --grad-clamp acts before it

def test_finite_gradients_whose_norm_overflows_pass():
    _check_finite_step(torch.ones(()), [torch.full((4,), 1e19)], 1, 1, 0.1)            # vector_norm of it is inf
    _check_finite_step(torch.ones(()), [torch.full((2,), 1e300, dtype=torch.float64)], 1, 1, 0.1)   # beyond float32, finite
    with pytest.raises(Diverged, match='the gradient is not finite'): _check_finite_step(torch.ones(()), [torch.tensor([1., math.nan])], 1, 1, 0.1)
    with pytest.raises(Diverged, match=r'\(lr 0.1\); try a smaller --lr, or without --amp$'):   # clamped already: not suggested again
        _check_finite_step(torch.ones(()), [torch.tensor([math.nan])], 1, 1, 0.1, clamped=True, amp=True)

def _inf_gradient(monkeypatch):
    "The surrogate gets a term whose gradient is +inf in the first weight (the reported loss stays finite)."
    step = T._step
    def inf_step(model, est, xb, yb, loss_name, sbn):
        sur, loss, acc = step(model, est, xb, yb, loss_name, sbn)
        w = next(model.parameters())
        return sur + w.sum() * 1e30 * 1e30, loss, acc   # d/dw: 1e30 * 1e30, inf in float32
    monkeypatch.setattr(T, '_step', inf_step)

def test_grad_clamp_acts_before_the_finite_check(monkeypatch):
    _inf_gradient(monkeypatch)
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=1, eval_samples=1, n_train=128, optimizer='sgd', lr=1e-3)
    with pytest.raises(Diverged, match='the gradient is not finite'): train(cfg, progress=False)
    res = train(dataclasses.replace(cfg, grad_clamp=1.), progress=False)   # every infinite entry clamped to 1: the run goes on
    assert math.isfinite(res['test_loss'])


# 5. BayesBiNN with posterior_samples and a stage with a transform

@register_transform('s44e_identity')
def _s44e_identity(model, est=None):
    "Identity transform (a copy), for the tests."
    return copy.deepcopy(model)

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_bayesbinn_posterior_at_a_stage_with_a_transform(tmp_path):
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=4', estimator='st:deterministic=true', optimizer='bayesbinn',
                      lr=1e-2, n_train=128, val=64, n_test=64, batch_size=64, eval_samples=1, posterior_samples=2, device='cpu',
                      stages=[{'name': 'a', 'epochs': 1}, {'name': 'b', 'transform': 's44e_identity', 'epochs': 1}])
    res = train(cfg, tmp_path / 'r', progress=False)
    start, a = res['stages']['b_start'], res['stages']['a']
    assert {'test_post_acc', 'test_post_ens_acc', 'test_post_loss'} <= set(start)
    for k in ('test_det_acc', 'test_det_loss', 'test_post_acc', 'test_post_loss'): assert start[k] == a[k], k   # an identity: the same mode and posterior


# 4. BinaryDuo's coupled models take no estimator

def test_models_without_an_estimator_are_named_as_such():
    with pytest.raises(ValueError, match="model 'duo_mlp' builds without an estimator .*leave the estimator out.*does not sample: approx_sign, clipped_st"):
        check_compatible('psa', 'duo_mlp')
    with pytest.raises(ValueError, match="trained by the local estimators: approx_sign"): check_compatible('psa', 'resnet20')   # as before
    table = compatibility_table()
    assert "(`duo_mlp`, `duo_vgg7`, `duo_resnet18`) take none as built" in table
    assert re.search(r"refuse the local estimators that sample \(`concrete`.*: a `ValueError`\) and take these only: `approx_sign`", table), table

def test_an_unused_estimator_is_left_out_of_the_run(tmp_path, capsys):
    code, out, _ = cli(capsys, '--threads', '1', '--smoke', '--model', 'duo_mlp')
    assert code == 0 and out.startswith('smoke run of duo_mlp on digits:'), out
    code, out, _ = cli(capsys, '--threads', '1', '--smoke', '--recipe', 'binaryduo_digits')   # decoupled: the estimator is used
    assert code == 0 and out.startswith('smoke run of duo_mlp / clipped_st on digits:'), out
    assert '_duo_mlp_seed0' in _default_out(TrainConfig(model='duo_mlp')).name
    assert '_duo_mlp-steps=1_st_seed0' in _default_out(TrainConfig(model='duo_mlp:steps=1')).name
    train(TrainConfig(model='duo_mlp', epochs=1, eval_samples=1), tmp_path / 'r', progress=False)
    keys = re.findall(r'^@\w+\{(\w+),$', (tmp_path / 'r' / 'references.bib').read_text(), re.M)
    assert keys == ['sbn_estimators', 'kim2020binaryduo', 'kingma2015adam', 'alpaydin1998optdigits'] and not set(CATALOGUE['st']['refs']) & set(keys), keys


# 7. --list takes --plugins only

def test_list_refuses_options_it_would_ignore(capsys):
    code, out, err = cli(capsys, '--list', '--out', 'zz', '--resume', '--export', '--epochs', '3', '--no-augment')
    assert code == 2 and not out and err.count('\n') == 1, (out, err)
    assert 'sbn-train: error: --list prints what sbn-train offers and exits: it takes only --plugins, --threads, --quiet, --debug, got --epochs, --no-augment, --out, --resume, --export' \
           in err.replace('--no-augment, --epochs', '--epochs, --no-augment'), err   # the message of cli.check_list_only (review s51 K)
    code, out, _ = cli(capsys, '--list')
    assert code == 0 and 'which estimator trains which kind of model' in out


# 8. no torch._dynamo at import; a Ctrl-C while sbn-train starts: one line, exit status 130

def _python(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, env=env)

def test_importing_the_trainer_leaves_dynamo_alone():
    p = _python("import sys, sbn_estimators.train, sbn_estimators.lr_search; print('torch._dynamo' in sys.modules)")
    assert p.returncode == 0 and p.stdout.strip() == 'False', (p.stdout, p.stderr)

def test_ctrl_c_while_the_command_imports():
    p = _python("import sys; sys.argv[0] = '/usr/bin/sbn-train'\n"
                "import sbn_estimators\n"
                "class Stop:   # Ctrl-C while the trainer's modules load\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name == 'sbn_estimators.models': raise KeyboardInterrupt\n"
                "sys.meta_path.insert(0, Stop())\n"
                "from sbn_estimators.train import train_cli")
    assert (p.returncode, p.stderr) == (130, 'sbn-train: interrupted\n'), (p.returncode, p.stderr)


# 9. messages that name the option, and the layers present

def test_init_normalize_names_batch_size(capsys):
    code, _, err = cli(capsys, '--threads', '1', '--smoke', '--init', 'normalize', '--batch-size', '1', '--n-train', '4')
    assert code == 2 and err.count('\n') == 1
    assert "init 'normalize' scales the pre-activations by their spread over the first training batch, which needs at least 2 examples, " \
           "got batch_size 1; use --batch-size (batch_size) 2 or more" in err, err

def test_unpack_weight_names_the_layers_of_the_export():
    from sbn_estimators.layers import export_binary, unpack_weight
    m = get_model('fmnist_bnn_conv:width=4', 'st:deterministic=true', in_shape=(1, 28, 28))
    e = export_binary(m)
    with pytest.raises(ValueError, match=r"name 'nope' is not a binary layer of the export; its binary layers: features\.\d+, features\.\d+, features\.\d+$"):
        unpack_weight(e, 'nope')
    layer = next(k.rsplit('.weight.', 1)[0] for k in e if k.endswith('.weight.bits'))
    del e[f'{layer}.weight.scale']
    with pytest.raises(ValueError, match='corrupted export'): unpack_weight(e, layer)   # a layer missing a part: damage


# 10. BinaryDuo's VGG-7 baseline recipe: the reference's {0, 1} units

def test_binaryduo_vgg7_baseline_trains_the_references_units():
    c = RECIPES['binaryduo_vgg7_baseline'].config
    with torch.device('meta'): m = get_model(c['model'], c['estimator'], in_shape=(3, 32, 32))
    names = [type(u).__name__ for u in m.modules()]
    assert names.count('Quantize') == 5 and 'BinaryActivation' not in names
    x = torch.randn(4, 3, 32, 32)
    ref = get_model(c['model'], c['estimator'], in_shape=(3, 32, 32)).eval()
    assert set(ref.features[:3](x).unique().tolist()) <= {0., 1.}
    with pytest.raises(ValueError, match="estimator 'concrete' samples"): get_model('binaryduo_vgg7:units=zero_one', 'concrete', in_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="model 'binaryduo_vgg7': units must be one of pm1, zero_one, got 'binary'"):
        get_model('binaryduo_vgg7:units=binary', 'st', in_shape=(3, 32, 32))
    assert sum(type(u).__name__ == 'BinaryActivation' for u in get_model('binaryduo_vgg7', 'st', in_shape=(3, 32, 32)).modules()) == 5   # the default: ±1 units


# 2, 3. run_comparison: a refused comparison leaves lr_search.json as the runs used it; the device is no part of the key

CFG = TrainConfig(epochs=2)

from test_review_s44_fixI import stub   # a trainer recording the rates it trains (best at 1e-3)

def test_a_refused_comparison_keeps_the_search_of_its_runs(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    record = (tmp_path / 'st' / 'lr_search.json').read_text()
    n = len(calls)
    with pytest.raises(ValueError, match=r"seed0 holds a run at the rate that the search in .*lr_search.json chose, and that search differs from this "
                                         r"one \(grid: \[0.0003, 0.001, 0.003\] there, \[0.01, 0.03\] now\); delete .*st or compare into another folder"):
        run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-2, 3e-2), train_fn=stub(calls), log=None)
    assert len(calls) == n and (tmp_path / 'st' / 'lr_search.json').read_text() == record   # refused before any trial
    assert '**50.0%**' in search_table(tmp_path, ['st']).splitlines()[2] and '| 0.001 |' in search_table(tmp_path, ['st']).splitlines()[0]

def test_runs_without_their_search_are_searched_in_memory(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    (tmp_path / 'st' / 'lr_search.json').unlink()
    with pytest.raises(ValueError, match=r"seed0 holds a run of another configuration \(lr: 0.001 there, 0.01 now\)"):
        run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-2, 3e-2), train_fn=stub(calls), log=None)
    assert not (tmp_path / 'st' / 'lr_search.json').exists()   # a search that disagrees with the runs is not recorded
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)   # the runs' own grid: agrees, recorded
    assert json.loads((tmp_path / 'st' / 'lr_search.json').read_text())['lr'] == 1e-3

def test_a_run_part_way_of_another_configuration_is_refused_before_the_search(tmp_path):
    calls = []
    run = tmp_path / 'st' / 'seed0'; run.mkdir(parents=True)
    (run / 'last.pt').touch()
    (run / 'config.json').write_text(json.dumps(dataclasses.asdict(dataclasses.replace(CFG, epochs=5, lr=1e-3))))
    with pytest.raises(ValueError, match=r"seed0 holds a run stopped part-way of another configuration \(epochs: 5 there, 2 now\)"):
        run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    assert calls == [] and not (tmp_path / 'st' / 'lr_search.json').exists()

def test_another_device_reuses_the_search_and_the_runs(tmp_path):
    calls = []
    run_comparison(CFG, {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    n = len(calls)
    rows = run_comparison(dataclasses.replace(CFG, device='cpu'), {'st': {}}, tmp_path, seeds=(0,), train_fn=stub(calls), log=None)
    assert len(calls) == n and rows[0]['lr'] == 1e-3

def test_a_stored_search_keyed_with_its_device_is_reused(tmp_path):
    calls = []
    rec = search_lr(CFG, (1e-3, 1e-2), out=tmp_path, train_fn=stub(calls))
    old = dict(rec, config=dict(rec['config'], device='cuda'))   # as written before the device left the key
    (tmp_path / 'lr_search.json').write_text(json.dumps(old))
    n = len(calls)
    assert search_lr(dataclasses.replace(CFG, device='cpu'), (1e-3, 1e-2), out=tmp_path, train_fn=stub(calls))['lr'] == 1e-3
    assert len(calls) == n
