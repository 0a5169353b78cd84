"`sbn-train`'s command line: exit status 2 and one line for bad usage, options and config files checked by type, truthful help and list."
import json
import pytest, torch
from sbn_estimators.train import _parser, _split_spec, RECIPES
from conftest import sbn_train

torch.set_num_threads(1)

cli = sbn_train

BAD = [(['--estimator', 'nope'], 'valid estimators'), (['--model', 'nope'], 'valid models'),
       (['--optimizer', 'rmsprop'], 'valid: sgd, adam'), (['--recipe', 'nope'], 'valid recipes'),
       (['--optimizer', 'bop:gama=1e-3'], "optimizer 'bop' has no parameter gama; valid parameters: threshold=1e-08"),
       (['--optimizer', 'bop:gamma=2'], 'gamma must be in (0, 1], got 2'),
       (['--model', 'resnet20', '--data', 'cos'], 'logistic loss'),
       (['--model', 'resnet20', '--estimator', 'reinforce'], 'network-level'),
       (['--model', 'resnet20', '--estimator', 'psa'], 'local estimators: '),
       (['--momentum', '-1'], 'momentum must be in [0, 1)'), (['--threads', '0'], 'must be a positive integer'),
       (['--threads', '-1'], 'must be a positive integer'), (['--lr', 'inf'], 'lr must be a positive finite number'),
       (['--grad-clamp', 'nan'], 'grad_clamp must be a finite number'), (['--device', 'meta'], 'valid: auto, cpu, cuda'),
       (['--epochs', 'ten'], "invalid int value"), (['--stages', '[{"name": "a", "transform": "nope"}]'], 'valid transforms'),
       (['--stages', '{"name": "a"}'], 'must be a JSON list'),
       (['--stages', '[{"name": "a/b"}, {"name": "c"}]'], "stages[0].name must be letters, digits, '_' or '-'"),
       (['--stages', '[{"name": "../../escape"}]'], "got '../../escape'"),
       (['--optimizer', 'sgd', '--lr', '1e39'], 'lr must be a positive finite number at most 3.403e+38'),
       (['--lr', '1e300'], 'lr must be a positive finite number at most 3.403e+38'),
       (['--weight-decay', '1e39'], 'weight_decay must be a finite number >= 0 and at most 3.403e+38'),
       (['--seed', '4611686018427387904'], 'seed must be in 0..4294967295, got 4611686018427387904'),
       (['--val', '1.5'], 'val must be a fraction in [0, 1) or a whole number of examples'),
       (['--val', '5000'], 'val 5000 leaves no training data: digits has 1438 training examples'),
       (['--n-train', '99999'], 'n_train must be at most the 1294 training examples of digits'),
       (['--n-test', '99999'], 'n_test must be at most the 359 test examples of digits'),
       (['--posterior-samples', '-1'], '(0: test the posterior mode only)'),
       (['--model', 'sbn_mlp:dtype=float16'], 'dtype must be one of float32, float64'),
       (['--optimizer', 'bop'], "optimizer 'bop' trains binary weights and model 'sbn_mlp' has none; models with binary weights: fmnist_bnn_conv, resnet20"),
       (['--momentum', '0.5'], "--momentum applies to --optimizer sgd only, got optimizer 'adam'"),
       (['--data-dir', 'somewhere'], "data 'digits' takes no data_dir (it applies to: cifar10, fashion_mnist, mnist)"),
       (['--normalize'], "data 'digits' takes no normalize (it applies to: cifar10)"),
       (['--augment'], "data 'digits' takes no augment (it applies to: cifar10; digits is never augmented), got True"),
       (['--data', 'fashion_mnist', '--augment'], "data 'fashion_mnist' takes no augment"),
       (['--model', 'sbn_mlp:loss=logistic'], "model 'sbn_mlp:loss=logistic': the dataset fixes the loss"),
       (['--model', 'sbn_mlp:loss=logistic', '--estimator', 'psa'], "digits needs loss=cross_entropy, or no loss= in --model"),
       (['--data', 'cos', '--model', 'sbn_mlp:loss=cross_entropy'], "the dataset fixes the loss"),
       (['--model', 'sbn_mlp:width=abc'], "model 'sbn_mlp': width must be an integer, got 'abc'"),
       (['--model', 'sbn_mlp:width=3.5'], "model 'sbn_mlp': width must be an integer, got 3.5"),
       (['--model', 'sbn_mlp:depth=0'], "model 'sbn_mlp': depth must be a positive integer, got 0"),
       (['--model', 'sbn_mlp:noise=normal'], "pass noise='normal' (the spec 'st:noise=normal')"),
       (['--export'], "--export writes the ±1 weights as packed bits, and model 'sbn_mlp' has none; models with binary weights: fmnist_bnn_conv"),
       (['--amp', '--model', 'sbn_mlp:dtype=float64'], "amp (bfloat16 autocast) casts float32 operations only, and model 'sbn_mlp:dtype=float64' computes in float64"),
       (['--model', 'duo_mlp', '--stages', '[{"name": "c"}, {"name": "x", "transform": "decouple"}, {"name": "x_start"}]'],
        "stage name x_start is taken: it records the test at the start of stage 'x' (after its transform 'decouple')"),
       (['--model', 'duo_mlp:hidden=0'], "model 'duo_mlp': hidden must be a positive integer, got 0")]

def test_model_may_name_the_loss_its_data_has():
    "A loss= that agrees with the dataset is what the trainer uses anyway: runs that name it (and resume) are accepted."
    from sbn_estimators.train import TrainConfig
    TrainConfig(data='cos', model='sbn_mlp:loss=logistic,width=8')
    TrainConfig(model='sbn_mlp:loss=cross_entropy')

@pytest.mark.parametrize('args,msg', BAD, ids=[' '.join(a) for a, _ in BAD])
def test_bad_usage_exits_2(args, msg, tmp_path, capsys):
    "Bad options: exit status 2, one line `sbn-train: error: ...` that says what is valid, no run folder."
    code, _, err = cli(capsys, *args, '--epochs', '1', '--quiet', '--out', str(tmp_path / 'run')) if '--epochs' not in args else \
                   cli(capsys, *args, '--quiet', '--out', str(tmp_path / 'run'))
    assert code == 2, (args, err)
    last = err.strip().splitlines()[-1]   # argparse's own errors print the usage line first
    assert msg in last and last.startswith('sbn-train: error: ') and 'Traceback' not in err, err
    assert not (tmp_path / 'run').exists()

@pytest.mark.parametrize('content,msg', [('[1, 2]', 'must hold a JSON object'), ('null', 'must hold a JSON object'),
                                         ('3', 'must hold a JSON object'), ('{"epochs": "ten"}', "'epochs' must be int"),
                                         ('{"epoch": 3}', "unknown key 'epoch'"), ('{"lr": true}', "'lr' must be"),
                                         ('{"stages": [{"name": "a", "epochs": "x"}]}', 'stages[0].epochs must be int'),
                                         ('{not json', 'not valid JSON')])
def test_config_file_checked_by_type(content, msg, tmp_path, capsys):
    (tmp_path / 'c.json').write_text(content)
    code, _, err = cli(capsys, '--config', str(tmp_path / 'c.json'), '--out', str(tmp_path / 'run'))
    assert code == 2 and msg in err and err.count('\n') == 1, err
    assert not (tmp_path / 'run').exists()

def test_help_shows_true_defaults():
    h = ' '.join(_parser().format_help().split())
    assert '--lr LR learning rate (default: 0.1 for sgd, 0.01 for adam, 0.01 for bop; none for bayesbinn, mirror_descent: give it, or an lr in every stage)' in h
    assert "(default: the dataset's: digits sbn_mlp" in h and '(default: 0.9)' in h and '(default: true)' in h
    assert "(default: PyTorch's choice" in h and '--data-dir' in h and '--smoke' in h

def test_list_shows_parameters_models_recipes(capsys):
    code, out, _ = cli(capsys, '--list')
    assert code == 0
    assert "reinforce: baseline=none, n=None, decay=0.9, hidden=16, lr=0.01" in out   # as a spec writes it
    assert "st (alias dst): " in out
    assert "psa_allconv  [sbn, (3, 32, 32), cifar10]: PSA paper's all-conv CIFAR-10 SBN" in out
    for r in RECIPES: assert f'  {r}: {RECIPES[r].description}' in out
    assert '| `psa` | yes | — |' in out and '| `st` | yes | yes |' in out

def test_smoke_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, '--smoke', '--model', 'sbn_mlp:width=16', '--eval-samples', '1')
    assert code == 0 and 'nothing written' in out, err
    assert list(tmp_path.iterdir()) == []

def test_run_folder_checks(tmp_path, capsys):
    "`--out` naming a file, or a folder that already holds a run, is refused before any work."
    (tmp_path / 'f').write_text('x')
    code, _, err = cli(capsys, '--out', str(tmp_path / 'f'), '--epochs', '1', '--quiet')
    assert code == 2 and 'existing file' in err, err
    assert cli(capsys, '--out', str(tmp_path / 'r'), '--epochs', '1', '--quiet', '--model', 'sbn_mlp:width=16', '--eval-samples', '1')[0] == 0
    code, _, err = cli(capsys, '--out', str(tmp_path / 'r'), '--epochs', '1', '--quiet')
    assert code == 2 and 'already holds a run' in err, err

SMOKE_TOO = [['--val', '5000'], ['--val', '1.5'], ['--n-train', '99999'], ['--stages', '[{"name": "a/b"}, {"name": "c"}]'],
             ['--seed', '-1'], ['--optimizer', 'bop']]

@pytest.mark.parametrize('args', SMOKE_TOO, ids=[' '.join(a) for a in SMOKE_TOO])
def test_smoke_refuses_what_the_run_refuses(args, tmp_path, capsys, monkeypatch):
    "`--smoke` checks a configuration as the real run does: the same one-line error, exit status 2."
    monkeypatch.chdir(tmp_path)
    real = cli(capsys, *args, '--epochs', '1', '--quiet', '--out', 'run')
    smoke = cli(capsys, *args, '--smoke')
    assert real[0] == smoke[0] == 2 and real[2] == smoke[2] and smoke[2].count('\n') == 1, (real, smoke)
    assert list(tmp_path.iterdir()) == []

@pytest.mark.parametrize('args,msg', [(['--smoke', '--export'], '--smoke writes nothing; drop --export'),
                                      (['--summary', '--export'], '--summary writes nothing; drop --export'),
                                      (['--smoke', '--out', 'r'], "--smoke writes nothing, so --out 'r' is not used"),
                                      (['--out', '', '--epochs', '1'], "--out must name a folder, got ''"),
                                      (['--smoke', '--summary'], 'argument --summary: not allowed with argument --smoke'),
                                      (['--list', '--smoke'], 'argument --smoke: not allowed with argument --list'),
                                      (['--recipe', 'fmnist_mlp_st', '--config', 'c.json', '--smoke'], "give --recipe or --config, not both"),
                                      (['--recipe', 'fmnist_bnn_biper', '--epochs', '1', '--smoke'],
                                       '--epochs 1 is not used: every stage sets its own epochs (sine 20, square 10); give them in --stages'),
                                      (['--stages', '[{"name": "a", "lr": 0.1}]', '--lr', '0.5', '--smoke'], '--lr 0.5 is not used: every stage sets its own lr (a 0.1)')])
def test_options_that_would_be_ignored_are_refused(args, msg, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, *args, '--quiet')
    assert code == 2 and msg in err and err.count('\n') == 1, err
    assert list(tmp_path.iterdir()) == []   # no runs/ folder either

def test_resume_refuses_another_config_or_recipe(tmp_path, capsys):
    "--resume takes the run folder's configuration: --config and --recipe, like options, may only repeat it."
    run = str(tmp_path / 'rr')
    assert cli(capsys, '--epochs', '1', '--out', run, '--quiet', '--model', 'sbn_mlp:width=16', '--eval-samples', '1')[0] == 0
    (tmp_path / 'o.json').write_text('{"epochs": 9}')
    for args, msg in ((['--config', str(tmp_path / 'o.json')], 'epochs: saved 1, given 9'),
                      (['--recipe', 'binaryduo_digits'], "model: saved 'sbn_mlp:width=16', given 'duo_mlp'"),
                      (['--epochs', '5'], 'epochs: saved 1, given 5')):
        code, _, err = cli(capsys, '--resume', '--out', run, '--quiet', *args)
        assert code == 2 and f'differs from {run}/config.json' in err and msg in err, (args, err)
    code, _, err = cli(capsys, '--resume', '--out', run, '--quiet', '--config', run + '/config.json')
    assert code == 0, err

def test_model_dtype_by_name(capsys):
    "A model's dtype is given by name on the command line; the conv SBNs take it as the MLP does."
    for args in (['--model', 'sbn_mlp:width=16,dtype=float64'], ['--model', 'fmnist_sbn_conv:dtype=float64', '--data', 'fashion_mnist'],
                 ['--model', 'psa_allconv:dtype=float64', '--data', 'cifar10']):
        code, out, err = cli(capsys, '--summary', *args)
        assert code == 0 and 'MACs per example' in out, (args, err)

def test_missing_cifar10_names_the_download_option(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    code, _, err = cli(capsys, '--data', 'cifar10', '--data-dir', str(tmp_path / 'empty'), '--epochs', '1', '--out', str(tmp_path / 'r'))
    assert code == 2 and 'pass --download' in err and 'download=True)' in err, err
    assert not (tmp_path / 'r').exists()

def test_default_run_folder_names_the_seed(tmp_path, capsys, monkeypatch):
    "The default --out holds the seed: the runs of a seed sweep started in the same second do not collide."
    import time
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, 'strftime', lambda fmt, *a: '20240101-000000')   # started together
    for seed in ('3', '4'):
        code, _, err = cli(capsys, '--seed', seed, '--epochs', '1', '--model', 'sbn_mlp:width=16', '--eval-samples', '1', '--quiet')
        assert code == 0, err
    assert sorted(p.name for p in (tmp_path / 'runs').iterdir()) == [f'20240101-000000_digits_sbn_mlp-width=16_st_seed{s}' for s in (3, 4)]

def test_smoke_says_when_it_uses_generated_data(tmp_path, capsys):
    "--smoke with a mistyped --data-dir succeeds on generated data, and says so on one line naming the folder; with the files, nothing."
    from sbn_estimators.data import write_fake_cifar10
    args = ['--smoke', '--data', 'cifar10', '--model', 'sbn_mlp:width=16', '--eval-samples', '1']
    code, out, err = cli(capsys, *args, '--data-dir', str(tmp_path / 'typo'))
    assert code == 0 and 'nothing written' in out, err
    assert err == f"note: no cifar10 files at {(tmp_path / 'typo').resolve()}: using generated data of cifar10's format (random, nothing to learn)\n"
    write_fake_cifar10(tmp_path / 'real', n_per_batch=40)
    code, out, err = cli(capsys, *args, '--data-dir', str(tmp_path / 'real'), '--val', '40', '--batch-size', '32')
    assert code == 0 and 'nothing written' in out and err == '', err

@pytest.mark.parametrize('args,msg', [(['--n-train', '5000'], 'n_train must be at most the 16 training examples of cifar10 in '),
                                      (['--n-test', '5000'], 'n_test must be at most the 4 test examples of cifar10 in ')])
def test_sizes_beyond_a_small_data_folder_are_refused(args, msg, tmp_path, capsys):
    "A CIFAR-10 folder smaller than the real one: --n-train / --n-test are checked against what it holds, before the run folder."
    from sbn_estimators.data import write_fake_cifar10
    write_fake_cifar10(tmp_path / 'small', n_per_batch=4)
    code, _, err = cli(capsys, '--data', 'cifar10', '--data-dir', str(tmp_path / 'small'), '--model', 'sbn_mlp:width=8',
                       '--val', '4', '--epochs', '1', '--quiet', '--out', str(tmp_path / 'r'), *args)
    assert code == 2 and msg in err and err.count('\n') == 1 and err.startswith('sbn-train: error: '), err
    assert not (tmp_path / 'r').exists()

def test_export_is_written_in_the_locked_run_folder(tmp_path, capsys, monkeypatch):
    "--export: binary.pt written while the run holds its folder's lock, from the data already loaded; --resume --export exports a finished run."
    import sbn_estimators.train as tr
    loads, exports = [], []
    real_load, real_export = tr.load_data, tr.export_binary
    monkeypatch.setattr(tr, 'load_data', lambda *a, **k: loads.append(1) or real_load(*a, **k))
    def export(model, **kw):
        exports.append((run / '.lock').is_file() and not (run / 'result.json').exists())   # locked, before the result
        return real_export(model, **kw)
    monkeypatch.setattr(tr, 'export_binary', export)
    from sbn_estimators.data import write_fake_cifar10
    write_fake_cifar10(tmp_path / 'data', n_per_batch=20, seed=0)   # a model with binary weights, on small generated data
    run = tmp_path / 'r'
    args = ['--data', 'cifar10', '--data-dir', str(tmp_path / 'data'), '--model', 'resnet20', '--estimator', 'st:deterministic=true',
            '--val', '20', '--epochs', '1', '--eval-samples', '1', '--quiet', '--out', str(run)]
    code, _, err = cli(capsys, *args, '--export')
    assert code == 0, err
    assert (run / 'binary.pt').is_file() and exports == [True] and len(loads) == 1
    (run / 'binary.pt').unlink(); (run / 'result.json').unlink()
    code, _, err = cli(capsys, '--resume', '--out', str(run), '--quiet', '--export')
    assert code == 0 and (run / 'binary.pt').is_file() and exports == [True, True], err
    assert tr._resume_hint(tr._parser().parse_args(['--out', str(run), '--export'])) == f'sbn-train --resume --out {run} --export'
    hint = tr._resume_hint(tr._parser().parse_args(['--out', str(run), '--export', '--threads', '1']))
    assert hint == f'sbn-train --resume --out {run} --export --threads 1'   # --threads is not in config.json either


def test_export_takes_binarizers_with_their_own_signs():
    """BiPer's binary weights are the signs of a periodic function: --export takes its model, `train` refuses it before
    training unless a stage binarizes the sine (as its recipe does); bop and bayesbinn stay refused."""
    import sbn_estimators.train as tr
    cfg = tr.config_from_args(tr._parser().parse_args(['--data', 'fashion_mnist', '--model', 'fmnist_biper_conv', '--export']))
    with pytest.raises(ValueError, match=r"--export: model 'fmnist_biper_conv' is not binary after the last stage: .*'biper_binarize'"):
        tr.train(cfg, smoke=True, export=True, progress=False)
    tr.train(tr.config_from_args(tr._parser().parse_args(['--recipe', 'fmnist_bnn_biper', '--export'])), smoke=True, export=True, progress=False)
    assert 'fmnist_biper_conv' in tr._binary_weight_models(own_signs=True) and 'fmnist_biper_conv' not in tr._binary_weight_models()


def test_model_parameters_have_their_defaults_types():
    "A model parameter given in a spec must have its default's type: a string is not taken for True, an int is a float."
    from sbn_estimators.models import get_model
    for spec, msg in [('resnet20:binary_weights=maybe', "binary_weights must be True or False, got 'maybe'"),
                      ('binaryduo_vgg7:width=wide', "width must be a number, got 'wide'"),
                      ('resnet20:binary_weights=1', 'binary_weights must be True or False, got 1')]:
        name, kw = _split_spec(spec)
        with pytest.raises(ValueError, match=None) as e: get_model(name, 'st', in_shape=(3, 32, 32), **kw)
        assert str(e.value) == f"model {name!r}: {msg}", str(e.value)
    assert get_model('binaryduo_vgg7', 'st', in_shape=(3, 32, 32), width=2) is not None   # an integer where the default is a float

@pytest.mark.parametrize('module', ['train', 'gradeval', 'bench'])
def test_python_m_runs_the_command(module):
    "`python -m sbn_estimators.<module>` (what `torchrun -m` runs) is the command, not a silent no-op."
    import subprocess, sys
    p = subprocess.run([sys.executable, '-m', f'sbn_estimators.{module}', '--list'], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and len(p.stdout.splitlines()) > 3, (p.returncode, p.stdout[-500:], p.stderr[-2000:])


@pytest.mark.parametrize('extra,said', [([], '; augmented)'), (['--no-augment'], '; not augmented)')])
def test_the_start_line_says_whether_training_batches_are_augmented(extra, said, tmp_path, capsys):
    "The line printed at the start says what is applied (config.json keeps the setting: null, the dataset's default, when unset)."
    from sbn_estimators.data import write_fake_cifar10
    write_fake_cifar10(tmp_path / 'data', n_per_batch=20, seed=0)
    code, _, err = cli(capsys, '--data', 'cifar10', '--data-dir', str(tmp_path / 'data'), '--model', 'resnet20', '--val', '20',
                       '--epochs', '1', '--eval-samples', '1', '--out', str(tmp_path / 'r'), *extra)
    assert code == 0 and said in err, err


def test_the_resume_hint_quotes_the_folder(tmp_path):
    "A folder name with a space or a shell character is quoted: the printed command runs as it is pasted."
    import shlex
    from types import SimpleNamespace
    from sbn_estimators.train import _resume_hint
    run = tmp_path / 'my run; $x'
    run.mkdir(); (run / 'last.pt').write_bytes(b'x')
    hint = _resume_hint(SimpleNamespace(out=str(run), export=False, threads=1))
    assert shlex.split(hint) == ['sbn-train', '--resume', '--out', str(run), '--threads', '1'], hint
