"`sbn-train`'s command line: exit status 2 and one line for bad usage, options and config files checked by type, truthful help and list."
import json
import pytest, torch
from sbn_estimators.train import train_cli, _parser, RECIPES

torch.set_num_threads(1)

def cli(capsys, *args):
    try: train_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err

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
       (['--stages', '{"name": "a"}'], 'must be a JSON list')]

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
    assert '--lr LR learning rate (default: 0.1 for sgd, 0.01 for adam, 0.01 for bop)' in h
    assert "(default: the dataset's: digits sbn_mlp" in h and '(default: 0.9)' in h and '(default: true)' in h
    assert "(default: PyTorch's choice" in h and '--data-dir' in h and '--smoke' in h

def test_list_shows_parameters_models_recipes(capsys):
    code, out, _ = cli(capsys, '--list')
    assert code == 0
    assert "reinforce: baseline='none', n=None, decay=0.9, hidden=16, lr=0.01" in out
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
