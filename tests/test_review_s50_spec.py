"Review s50: what `sbn-train --list` shows can be written back as a spec (nbs/14_train.ipynb `list_text`; nbs/03_estimators.ipynb `_spec_none`), and a smoke run under torchrun prints one line."
import re, subprocess, sys
import pytest, torch
from sbn_estimators.estimators import estimator
from sbn_estimators.models import get_model, list_models, model_entry
from sbn_estimators.train import TrainConfig, list_text, make_optimizer, OPTIMIZER_PARAMS, _split_spec
from sbn_estimators.binary_weights import MirrorDescent

torch.set_num_threads(1)

def _section(title):
    text = list_text()
    part = text.split(title, 1)[1].split('\n\n', 1)[0]
    return [l.strip() for l in part.splitlines()[1:] if l.strip()]

def test_listed_estimator_parameters_build():
    "Every estimator line of --list, written back as `name:params`, builds the estimator with its defaults."
    lines = _section('estimators (name: parameters with their defaults):')
    assert len(lines) > 20
    for l in lines:
        name, params = re.match(r'(\w+)(?: \(alias [^)]*\))?: (.*)$', l).groups()
        spec = name if params == '(no parameters)' else f'{name}:{params}'
        assert estimator(spec).hparams() == estimator(name).hparams(), spec

def test_listed_model_parameters_build():
    "Every model with parameters lists them all, as a spec that parses back to its defaults; the SBN MLP's builds."
    listed = {l.split()[0]: l.rsplit('; ', 1)[1] for l in _section('models (name, kind, input, dataset: description; parameters):')}
    assert set(listed) == set(list_models())
    for name, params in listed.items():
        defaults = model_entry(name).params
        if not defaults: assert params == '(no parameters)', (name, params); continue
        parsed = _split_spec(f'{name}:{params}', 'model')[1]
        assert set(parsed) == set(defaults), (name, params, defaults)
        assert all(str(parsed[k]) == str(v).removeprefix('torch.') for k, v in defaults.items()), (name, parsed, defaults)
    net = get_model(f"sbn_mlp:{listed['sbn_mlp']}", 'st', in_shape=(64,))   # one SBN reads every kind of value (int, str, dtype)
    assert net.sizes == [64, 256, 256, 10]

@pytest.mark.parametrize('spec', ['mirror_descent:clip=None', 'mirror_descent:weight_decay=0.0, clip=None', 'mirror_descent:clip=none'])
def test_optimizer_none_is_written_as_listed(spec):
    assert 'clip=None' in list_text()
    cfg = TrainConfig(model='fmnist_bnn_conv', data='fashion_mnist', estimator='st:deterministic=true', optimizer=spec, lr=0.01)
    net = get_model('fmnist_bnn_conv', 'st:deterministic=true', in_shape=(1, 28, 28))
    opt = make_optimizer(net, cfg, 100)
    assert isinstance(opt, MirrorDescent) and all(g.get('clip', None) is None for g in opt.param_groups if g.get('binary'))

def test_a_string_none_is_not_read_as_none_where_the_default_is_not_none():
    with pytest.raises(ValueError, match='noise'): estimator('st:noise=None')

def test_torchrun_smoke_prints_once(tmp_path):
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2', '-m', 'sbn_estimators.train',
                        '--smoke', '--threads', '1'], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count('smoke run of') == 1, p.stdout


# sbn-gradeval (nbs/04_gradeval.ipynb): a resumed report of another toy network says which --epochs continues it; --list says None can be written
from sbn_estimators.gradeval import gradeval_cli

def _gradeval(args, capsys):
    try: gradeval_cli([*args, '--no-progress']); code = 0
    except SystemExit as e: code = e.code
    return code, *capsys.readouterr()

def test_resume_of_another_toy_names_its_epochs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ['--estimators', 'exact', '--samples', '10', '--json', 'r.json']
    assert _gradeval(['--epochs', '2', *args], capsys)[0] == 0
    (tmp_path / 'r.json').rename(tmp_path / 'r.json.partial')   # as an interrupted run of the 2-epoch toy left it
    code, out, err = _gradeval(['--epochs', '3', *args, '--resume'], capsys)
    assert code == 2 and err.strip().endswith("give --epochs 2 to continue r.json.partial, or leave out --resume to start afresh"), err

def test_gradeval_list_says_none_can_be_written(capsys):
    code, out, err = _gradeval(['--list'], capsys)
    assert code == 0 and 'n=None (or n left out)' in out and 'leave n out' not in out
