"Review of `sbn-train` (D): best.pt of deterministic networks, the schedules of weight binarizers, paths the system refuses, null stage values, per-stage rates without a default, config-file settings that would be ignored, batch sizes, spec-naming errors, the smoke note, the comparison figure's labels, flattened float64 input."
import dataclasses, errno, json, os, pathlib
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators import cli as C
from sbn_estimators.train import train, TrainConfig, RECIPES
from sbn_estimators.data import write_fake_cifar10, Data
from sbn_estimators.reste import ReSTE, _reste_o
from conftest import sbn_train

torch.set_num_threads(1)
FAST = ['--model', 'sbn_mlp:width=16', '--eval-samples', '1', '--epochs', '1', '--threads', '1', '--quiet',
        '--n-train', '128', '--val', '64', '--n-test', '64']

cli = sbn_train

def one_line(code, err, status=2):
    assert code == status and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, (code, err)
    return err.strip()

# 1. best.pt of a network trained deterministically is chosen on its deterministic accuracy

def _script_val(monkeypatch, accs, det_accs):
    real, accs, det_accs = T.evaluate, iter(accs), iter(det_accs)
    def scripted(model, data, split='test', *a, **kw):
        r = real(model, data, split, *a, **kw)
        if split == 'val': r['acc'], r['det_acc'] = next(accs), next(det_accs)
        return r
    monkeypatch.setattr(T, 'evaluate', scripted)

@pytest.mark.parametrize('spec,metric,best_epoch', [('st:deterministic=true', 'val_det_acc', 2), ('st', 'val_acc', 1)])
def test_best_pt_follows_the_accuracy_of_the_model_as_trained(tmp_path, monkeypatch, spec, metric, best_epoch):
    "Sampled accuracy 0.9, 0.1, 0.1 and deterministic 0.2, 0.8, 0.5: a deterministic estimator's best.pt is epoch 2, a stochastic one's epoch 1; result.json says which column chose."
    _script_val(monkeypatch, [0.9, 0.1, 0.1], [0.2, 0.8, 0.5])
    train(TrainConfig(model='sbn_mlp:width=16', estimator=spec, epochs=3, eval_samples=1), tmp_path / 'r', progress=False)
    res = json.loads((tmp_path / 'r' / 'result.json').read_text())
    assert (res['best_metric'], res['best_epoch'], res['epoch']) == (metric, best_epoch, 3)
    assert T.load_checkpoint(tmp_path / 'r' / 'best.pt')['epoch'] == best_epoch

def test_no_validation_names_no_metric(tmp_path):
    train(TrainConfig(model='sbn_mlp:width=16', estimator='st:deterministic=true', epochs=1, eval_samples=1, val=0), tmp_path / 'r', progress=False)
    res = json.loads((tmp_path / 'r' / 'result.json').read_text())
    assert (res['best_metric'], res['best_epoch']) == (None, 1)

def test_progress_line_and_summary_show_the_deterministic_accuracy(tmp_path, capsys):
    code, out, err = cli(capsys, *[a for a in FAST if a != '--quiet'], '--estimator', 'st:deterministic=true', '--out', str(tmp_path / 'r'))
    assert code == 0, err
    line = next(l for l in err.splitlines() if l.startswith('epoch 1/1'))
    assert 'val_det_acc' in line and 'val_acc' not in line.replace('val_det_acc', ''), line
    assert out.startswith('test accuracy of the final model: deterministic '), out
    code, out, err = cli(capsys, *[a for a in FAST if a != '--quiet'], '--out', str(tmp_path / 's'))   # sampled units: as before
    assert code == 0 and ', val_acc ' in err and out.startswith('test accuracy (1 samples per example): expected '), (out, err)

@pytest.mark.parametrize('model,spec,det', [('fmnist_bnn_conv', 'st:deterministic=true', True), ('fmnist_bnn_conv', 'st', False),
                                            ('resnet20', 'reste:deterministic=true', True), ('resnet20', 'reste', False),
                                            ('binaryduo_vgg7', 'clipped_st:deterministic=true', True),
                                            ('sbn_mlp', 'st:deterministic=true', True), ('sbn_mlp', 'st', False), ('sbn_mlp', 'psa', False)])
def test_which_models_evaluate_deterministically(model, spec, det):
    from sbn_estimators.models import get_model, MODELS
    from sbn_estimators.estimators import estimator
    shape = {'fmnist_bnn_conv': (1, 28, 28), 'sbn_mlp': (64,)}.get(model, (3, 32, 32))
    est = estimator(spec)
    with torch.device('meta'): m = get_model(model, est, in_shape=shape)
    assert T._evaluates_det(m, est) is det

# 2. the ReSTE weight binarizers follow ReSTE's schedule whatever the activation estimator

def _vgg_run(tmp_path, spec, out=None, **kw):
    data = tmp_path / 'cifar'
    if not data.exists(): write_fake_cifar10(data, n_per_batch=2)
    cfg = TrainConfig(data='cifar10', data_dir=str(data), model='vgg_small', estimator=spec, epochs=2, batch_size=2, n_train=2, val=2,
                      n_test=2, eval_samples=1)
    return train(cfg, out, progress=False, **kw)['model']

def _weight_os(model):
    from sbn_estimators.binary_weights import binary_weight_layers
    return {(l.binarize.o, l.binarize.o_end) for l in binary_weight_layers(model).values()}

def test_weight_reste_is_annealed_under_st(tmp_path):
    "st activations on vgg_small: after 2 epochs the weights' o is o(1) of 2 (about 1.59), not the final 3 from the start."
    assert _weight_os(_vgg_run(tmp_path, 'st')) == {(_reste_o(1, 2, 3.), 3.)}

def test_weight_reste_with_reste_activations_is_unchanged(tmp_path):
    "reste activations: their on_epoch sets every ReSTE, the weights too, with the activation estimator's o_end (as before)."
    assert _weight_os(_vgg_run(tmp_path, 'reste:o=4')) == {(_reste_o(1, 2, 4.), 4.)}

def test_weight_schedule_on_resume(tmp_path):
    class Stop(Exception): pass
    def stop(epoch, row):
        if epoch == 1: raise Stop
    with pytest.raises(Stop): _vgg_run(tmp_path, 'st', tmp_path / 'r', callbacks=[stop])
    assert _weight_os(_vgg_run(tmp_path, 'st', tmp_path / 'r', resume=True)) == {(_reste_o(1, 2, 3.), 3.)}

def test_one_schedule_call_per_estimator_class(monkeypatch):
    "Each epoch: one on_epoch per class (the activation estimator for its own class), never one per module."
    from sbn_estimators.straight_through import ST
    calls = []
    for cls in (ST, ReSTE):
        real = cls.on_epoch
        monkeypatch.setattr(cls, 'on_epoch', lambda self, model, e, E, real=real, cls=cls: (calls.append((cls.__name__, e)), real(self, model, e, E))[1])
    from sbn_estimators.models import get_model
    from sbn_estimators.estimators import estimator
    est = estimator('st')
    m = get_model('resnet20', est, in_shape=(3, 32, 32))
    for s in T._scheduled(m, est): s.on_epoch(m, 0, 4)
    assert sorted(calls) == [('ReSTE', 0), ('ST', 0)]
    assert T._scheduled(m, est)[0] is est

# 3. paths the system refuses: one line, exit 2, nothing left behind

def test_run_cli_reports_any_oserror_on_one_line(capsys):
    import argparse
    def run(exc):
        def main(args): raise exc
        try: C.run_cli(argparse.ArgumentParser(prog='demo'), main, []); return 0, ''
        except SystemExit as e: return e.code, capsys.readouterr().err
    assert run(OSError(errno.ENAMETOOLONG, 'File name too long', 'x' * 300)) == (2, f"demo: error: [Errno 36] File name too long: '{'x' * 300}'\n")
    assert run(OSError(errno.ELOOP, 'Too many levels of symbolic links', 'a/.lock'))[0] == 2
    assert run(OSError(errno.ENOSPC, 'No space left on device', 'r/last.pt')) == (1, "demo: error: [Errno 28] No space left on device: 'r/last.pt'\n")
    assert run(OSError(errno.EIO, 'Input/output error'))[0] == 1

def test_long_out_names_the_option(tmp_path, capsys):
    msg = one_line(*cli(capsys, *FAST, '--out', str(tmp_path / 'x' / ('a' * 300)))[::2])
    assert '--out: the folder name aaaaaaaaaaaaaaaaaaaaaaaa... is 300 bytes long, and the file system of' in msg, msg
    assert not (tmp_path / 'x').exists()
    msg = one_line(*cli(capsys, *FAST, '--out', str(tmp_path / ('a' * 300)))[::2])   # its folder exists
    assert '--out: the folder name' in msg, msg

@pytest.mark.parametrize('option', ['--plugins', '--data-dir'])
def test_long_input_paths_are_one_line(tmp_path, capsys, option):
    args = (['--data', 'fashion_mnist', '--model', 'fmnist_bnn_conv:width=4'] if option == '--data-dir' else [])
    long = str(tmp_path / ('a' * 300)) + ('.py' if option == '--plugins' else '')
    msg = one_line(*cli(capsys, *FAST, *args, option, long, '--out', str(tmp_path / 'r'))[::2])
    assert 'File name too long' in msg and not (tmp_path / 'r').exists(), msg

def test_resume_long_out_is_one_line(tmp_path, capsys):
    msg = one_line(*cli(capsys, '--resume', '--out', str(tmp_path / ('a' * 300)))[::2])
    assert 'File name too long' in msg, msg

def test_long_model_spec_gets_a_default_folder_the_system_takes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [a for a in FAST if not a.startswith('sbn_mlp')]
    code, out, err = cli(capsys, *args[:1], 'sbn_mlp:width=' + '0' * 250 + '16', *args[1:])
    assert code == 0, err
    (run,) = (tmp_path / 'runs').iterdir()
    assert len(run.name) < 120 and (run / 'result.json').is_file(), run.name

@pytest.mark.skipif(os.name != 'posix', reason='symbolic links')
@pytest.mark.parametrize('kind', ['loop', 'dangling'])
def test_symlink_out_that_leads_nowhere(tmp_path, capsys, kind):
    if kind == 'loop': (tmp_path / 'A').symlink_to('B'); (tmp_path / 'B').symlink_to('A')
    else: (tmp_path / 'A').symlink_to(tmp_path / 'nowhere')
    for out in (tmp_path / 'A', tmp_path / 'A' / 'run'):
        msg = one_line(*cli(capsys, *FAST, '--out', str(out))[::2])
        assert f"--out: {tmp_path / 'A'} is a symbolic link that leads to no folder" in msg, msg

def test_run_folder_removes_its_folders_when_one_cannot_be_made(tmp_path, monkeypatch):
    real = pathlib.Path.mkdir
    def mkdir(self, *a, **kw):
        if self.name == 'b': raise OSError(errno.ENOSPC, 'No space left on device', str(self))
        return real(self, *a, **kw)
    monkeypatch.setattr(pathlib.Path, 'mkdir', mkdir)
    with pytest.raises(OSError, match='No space left on device'):
        with C.RunFolder(tmp_path / 'a' / 'b'): pass
    assert not (tmp_path / 'a').exists()

# 4. a stage's epochs or lr may not be null

@pytest.mark.parametrize('key', ['epochs', 'lr'])
def test_null_stage_values(tmp_path, capsys, key):
    want = f"stages[0].{key} must be a number, got null; leave the key out to use the run's {key}"
    msg = one_line(*cli(capsys, '--smoke', '--stages', json.dumps([{'name': 'a', key: None}]))[::2])
    assert msg.endswith(want), msg
    (tmp_path / 'c.json').write_text(json.dumps({'stages': [{'name': 'a'}, {'name': 'b', key: None}]}))
    msg = one_line(*cli(capsys, '--smoke', '--config', str(tmp_path / 'c.json'))[::2])
    assert want.replace('[0]', '[1]') in msg, msg
    with pytest.raises(ValueError, match=r'stages\[0\]\.' + key + ' must be a number, got null'): TrainConfig(stages=[{'name': 'a', key: None}])

# 5. an optimizer without a default rate, every stage with its own

def test_bayesbinn_with_a_rate_in_every_stage(tmp_path, capsys):
    args = ['--smoke', '--data', 'fashion_mnist', '--data-dir', str(tmp_path / 'none'), '--model', 'fmnist_bnn_conv:width=4',
            '--optimizer', 'bayesbinn', '--eval-samples', '1', '--batch-size', '8']
    code, out, err = cli(capsys, *args, '--stages', '[{"name": "a", "lr": 0.01}, {"name": "b", "lr": 0.001}]')
    assert code == 0 and 'nothing written' in out, err
    msg = one_line(*cli(capsys, *args, '--stages', '[{"name": "a", "lr": 0.01}, {"name": "b"}]')[::2])
    assert msg.endswith("optimizer 'bayesbinn' has no default learning rate; give lr (sbn-train --lr), or an lr in every stage"), msg
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv', optimizer='bayesbinn', stages=[{'name': 'a', 'lr': 0.01}])
    assert cfg.lr is None and [s['lr'] for s in cfg.plan()] == [0.01]
    assert TrainConfig.from_dict(dataclasses.asdict(cfg)) == cfg   # its config.json reads back

# 6. settings of a config file that would be ignored

@pytest.mark.parametrize('settings,msg', [
    ({'momentum': 0.5}, "momentum 0.5 of config file {} applies to --optimizer sgd only, got optimizer 'adam'"),
    ({'lr': 0.5, 'stages': [{'name': 'a', 'lr': 0.1}]}, "lr 0.5 of config file {} is not used: every stage sets its own lr (a 0.1); drop lr from the file"),
    ({'epochs': 5, 'stages': [{'name': 'a', 'epochs': 1}]}, "epochs 5 of config file {} is not used: every stage sets its own epochs (a 1)")])
def test_config_file_settings_that_would_be_ignored(tmp_path, capsys, settings, msg):
    p = tmp_path / 'c.json'; p.write_text(json.dumps({'model': 'sbn_mlp:width=8', **settings}))
    got = one_line(*cli(capsys, '--smoke', '--eval-samples', '1', '--config', str(p))[::2])
    assert msg.format(p) in got, got

def test_config_files_that_are_taken(tmp_path, capsys):
    "Defaults are no ignored settings; a run's config.json (every value, filled-in ones too) is taken as it is, a recipe's staged one too."
    for i, d in enumerate([{'momentum': 0.9}, {'optimizer': 'sgd', 'momentum': 0.5},
                           dataclasses.asdict(TrainConfig(**RECIPES['fmnist_bnn_biper'].config, data_dir=str(tmp_path / 'none')))]):
        p = tmp_path / f'c{i}.json'; p.write_text(json.dumps(d))
        code, out, err = cli(capsys, '--smoke', '--eval-samples', '1', '--batch-size', '8', '--config', str(p))
        assert code == 0, (d, err)
    assert 'every value, the ones filled in too' in ' '.join(T._parser().format_help().split())

# 7. the smoke run refuses the batch size the real run refuses

def test_batch_size_beyond_the_training_examples(capsys, tmp_path):
    msg = one_line(*cli(capsys, '--smoke', '--data', 'cifar10', '--data-dir', str(tmp_path / 'none'), '--batch-size', '60000')[::2])
    assert msg.endswith('batch_size must be at most the 45000 training examples of cifar10 (50000 less 5000 for validation), got 60000'), msg
    with pytest.raises(ValueError, match=r'batch_size must be at most the 100 training examples of digits \(n_train\), got 128'):
        TrainConfig(n_train=100, batch_size=128)

# 8. bad parameter values name their spec

@pytest.mark.parametrize('args,msg', [
    (['--estimator', 'reste:o=abc'], "estimator 'reste:o=abc': o must be a finite number, got 'abc'"),
    (['--estimator', 'st:deterministic=maybe'], "estimator 'st:deterministic=maybe': deterministic must be True or False, got 'maybe'"),
    (['--optimizer', 'bop:gamma=abc'], "optimizer 'bop:gamma=abc': gamma must be in (0, 1], got 'abc'"),
    (['--optimizer', 'bayesbinn:temperature=-1', '--lr', '0.01'], "optimizer 'bayesbinn:temperature=-1': temperature must be a positive number, got -1"),
    (['--estimator', 'nope'], "sbn-train: error: unknown estimator 'nope'"), (['--estimator', 'psa:foo=1'], "sbn-train: error: estimator 'psa' has no parameter foo")])
def test_parameter_errors_name_the_spec(capsys, args, msg):
    got = one_line(*cli(capsys, '--smoke', '--model', 'sbn_mlp:width=8', *args)[::2])
    assert msg in got, got

# 10. the smoke note shows a folder under the working directory relative to it

def test_smoke_note_is_relative_to_the_working_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, '--smoke', '--data', 'cifar10', '--data-dir', 'typo', '--model', 'sbn_mlp:width=16', '--eval-samples', '1')
    assert code == 0 and err.startswith("note: no cifar10 files at typo: using generated data"), err

# 12. no link to a private name in the page's prose

def test_train_page_prose_links_no_private_name():
    import re
    nb = json.loads((pathlib.Path(__file__).resolve().parents[1] / 'nbs' / '14_train.ipynb').read_text())
    prose = ''.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    assert not re.findall(r'`_[A-Za-z]\w*`', prose)

# 13. flattened image input computed in the model's dtype

def test_flattened_input_keeps_float64():
    X = torch.arange(256, dtype=torch.uint8).view(4, 1, 8, 8)
    lo = -1.
    data = Data('x', {'train': (X, torch.zeros(4, dtype=torch.long))}, n_out=10, transform=lambda X, dtype=torch.float32: X.to(dtype) * ((1 - lo) / 255) + lo)
    flat = T._flattened(data)
    assert torch.equal(flat.input(X, torch.float64), data.input(X, torch.float64).flatten(1))
    assert torch.equal(flat.input(X, torch.float32), data.input(X, torch.float32).flatten(1))
    assert not torch.equal(flat.input(X, torch.float64), data.input(X, torch.float32).flatten(1).double())   # the two differ here
