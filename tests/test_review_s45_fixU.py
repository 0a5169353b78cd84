"Review s45, fix U: augment's default and refusals (and old run folders), `train`'s docstring, BinaryDuo's named default activation, CIFAR-10's missing-folder message, `sbn-bench` with one round and its --json suffix."
import dataclasses, inspect, json, sys, types
import pytest, torch
from sbn_estimators.train import TrainConfig, train, load_run
from sbn_estimators.data import cifar10_data, mnist_data, fashion_mnist_data, DataNotFoundError
from conftest import sbn_train
from test_review_s45_fixW import _stopped

torch.set_num_threads(1)


def one_line_exit_2(code, err):
    assert code == 2 and err.count('\n') == 1 and err.startswith('sbn-train: error: '), (code, err)
    return err


# 1. augment: unset is the dataset's default (kept unset, resolved where the data is built: fix W), True is refused where nothing is augmented, False is accepted

@pytest.mark.parametrize('args, msg', [
    (['--augment'], "data 'digits' takes no augment (it applies to: cifar10; digits is never augmented), got True"),
    (['--data', 'fashion_mnist', '--augment'], "data 'fashion_mnist' takes no augment"),
    (['--data', 'cos', '--augment'], "data 'cos' takes no augment"),
    (['--data', 'cifar10', '--model', 'sbn_mlp', '--augment'], "model 'sbn_mlp' reads flat input"),
])
def test_augment_where_nothing_is_augmented_is_refused(capsys, args, msg):
    err = one_line_exit_2(*sbn_train(capsys, *args, '--smoke', '--threads', '1')[::2])
    assert msg in err and 'augment' in err, err


@pytest.mark.parametrize('args', [['--no-augment'], ['--data', 'cos', '--no-augment'], ['--data', 'cifar10', '--model', 'sbn_mlp', '--no-augment']])
def test_no_augment_is_accepted_everywhere(capsys, args):
    code, out, err = sbn_train(capsys, *args, '--smoke', '--threads', '1', '--eval-samples', '1', '--batch-size', '8')
    assert code == 0 and 'nothing written' in out, err


def test_the_default_applied():
    from sbn_estimators.train import _augments
    assert TrainConfig().augment is None and _augments(TrainConfig()) is False   # digits: never augmented
    assert _augments(TrainConfig(data='cos', augment=False)) is False
    assert _augments(TrainConfig(data='cifar10')) is True                 # images for the all-conv net: flip and crop
    assert _augments(TrainConfig(data='cifar10', augment=False)) is False
    assert _augments(TrainConfig(data='cifar10', model='sbn_mlp')) is False   # flattened: not augmented (was recorded True)
    for kw in (dict(augment=True), dict(data='cifar10', model='sbn_mlp', augment=True)):
        with pytest.raises(ValueError, match='augment'): TrainConfig(**kw)


def test_a_run_records_the_augmentation_it_applies(tmp_path, capsys):
    code, _, err = sbn_train(capsys, '--epochs', '1', '--n-train', '64', '--eval-samples', '1', '--threads', '1', '--out', str(tmp_path / 'r'))
    assert code == 0, err
    assert json.loads((tmp_path / 'r' / 'config.json').read_text())['augment'] is None   # unset: the dataset's default (fix W)
    assert 'not augmented' in err


def test_the_help_states_the_default():
    from sbn_estimators.train import _parser
    text = ' '.join(_parser().format_help().split())
    assert 'default: on where it applies, CIFAR-10 with a model that reads images' in text and '(default: none)' not in text, text


def _old_run(folder, cfg):
    "A run folder as an earlier version left it: interrupted after its first epoch, config.json and last.pt holding augment true."
    _stopped(folder, cfg, augment=True)


def test_old_run_folders_with_augment_true_resume_and_load(tmp_path, capsys):
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=2, n_train=64, eval_samples=1)
    _old_run(tmp_path / 'a', cfg)
    _old_run(tmp_path / 'b', cfg)
    model, c = load_run(tmp_path / 'a', 'last.pt')
    assert c.augment is None   # unset: the digits' default, off
    code, _, err = sbn_train(capsys, '--resume', '--out', str(tmp_path / 'a'), '--threads', '1', '--quiet')   # the command
    assert code == 0, err
    assert json.loads((tmp_path / 'a' / 'result.json').read_text())['epoch'] == 2
    res = train(cfg, tmp_path / 'b', resume=True, progress=False)   # the function, with the configuration as it is made now
    assert 'test_acc' in res
    code, _, err = sbn_train(capsys, '--resume', '--out', str(tmp_path / 'b'), '--augment', '--threads', '1')   # given: refused as for a new run
    assert "digits is never augmented" in one_line_exit_2(code, err)
    # a run's saved config.json given to --config: taken as it is, as a filled-in default
    code, out, err = sbn_train(capsys, '--config', str(tmp_path / 'a' / 'config.json'), '--smoke', '--threads', '1')
    assert code == 0, err


def test_an_old_flat_model_cifar10_config_reads_as_not_augmented(tmp_path):
    d = dataclasses.asdict(TrainConfig(data='cifar10', model='sbn_mlp', data_dir=str(tmp_path)))
    assert TrainConfig.from_dict({**d, 'augment': True}).augment is None   # unset: off for a flat-input model
    d = dataclasses.asdict(TrainConfig(data='cifar10', data_dir=str(tmp_path), augment=False))
    assert TrainConfig.from_dict(d).augment is False   # an explicit off stays off


# 2. train's docstring says what it returns and when it writes

def test_train_docstring_names_the_model_and_the_optional_folder(tmp_path, monkeypatch):
    doc = inspect.getdoc(train)
    assert '`model`' in doc and 'when given' in doc, doc
    monkeypatch.chdir(tmp_path)
    res = train(TrainConfig(model='sbn_mlp:width=8', epochs=1, n_train=64, eval_samples=1), progress=False)
    assert isinstance(res['model'], torch.nn.Module) and list(tmp_path.iterdir()) == []   # out=None: nothing written


# 3. BinaryDuo's coupled models: the default activation has a name

def test_binaryduo_default_activation_is_named():
    from sbn_estimators.binaryduo import QuantMLP, DuoResNet, Quantize, ternary, binaryduo_vgg7_coupled
    from nbdev.showdoc import show_doc
    for cls in (QuantMLP, DuoResNet):
        assert '<lambda>' not in str(inspect.signature(cls)), inspect.signature(cls)
        assert 'act:function=ternary' in show_doc(cls)._repr_markdown_()
    a, b = ternary(), ternary()
    assert isinstance(a, Quantize) and a.steps == 2 and a.proxy is None and a is not b
    assert [m.steps for m in QuantMLP([4, 3, 3, 2]) if isinstance(m, Quantize)] == [2, 2]
    assert {m.steps for m in binaryduo_vgg7_coupled(channels=(2, 2, 2, 2, 2)).modules() if isinstance(m, Quantize)} == {2}


# 4. a missing data folder is said to be missing; --download is suggested only where torchvision can run it

@pytest.fixture
def no_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torchvision', None)   # import torchvision: ImportError, as if not installed


def test_missing_cifar10_folder_says_it_does_not_exist(tmp_path, no_torchvision):
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'nope')
    msg = str(e.value)
    assert f"{tmp_path / 'nope'} does not exist" in msg and 'lacks' not in msg, msg
    assert 'install torchvision' in msg and "python-version batches" in msg, msg


def test_with_torchvision_the_message_suggests_download(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'torchvision', types.ModuleType('torchvision'))
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'nope')
    assert str(e.value).endswith('does not exist: no CIFAR-10 files there; pass download=True to fetch it'), str(e.value)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'empty')
    assert 'lacks data_batch_1' in str(e.value) and str(e.value).endswith('; pass download=True to fetch it'), str(e.value)


def test_the_command_in_a_folder_without_data(tmp_path, monkeypatch, capsys, no_torchvision):
    monkeypatch.chdir(tmp_path)
    err = one_line_exit_2(*sbn_train(capsys, '--data', 'cifar10', '--epochs', '1', '--threads', '1')[::2])
    assert f"{tmp_path / 'data'} does not exist" in err and 'install torchvision and pass --download' in err, err
    err = one_line_exit_2(*sbn_train(capsys, '--data', 'cifar10', '--epochs', '1', '--threads', '1', '--download')[::2])
    assert 'does not exist' in err and 'downloading needs torchvision, which is not installed: install it' in err and 'pass' not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('load, title', [(mnist_data, 'MNIST'), (fashion_mnist_data, 'Fashion-MNIST')])
def test_missing_idx_folder_says_it_does_not_exist(tmp_path, load, title):
    with pytest.raises(DataNotFoundError, match=f"{title} not found: .*nope does not exist; "): load(root=tmp_path / 'nope')


# 5. sbn-bench: one round has no spread; --json names a JSON-lines file

def bench(capsys, *args):
    from sbn_estimators.bench import bench_cli
    try: bench_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_json_must_be_a_jsonl_file(tmp_path, capsys):
    code, out, err = bench(capsys, '--nets', 'fc', '--devices', 'cpu', '--json', str(tmp_path / 'x.txt'))
    assert code == 2 and out == '' and err.count('\n') == 1 and "--json: " in err and 'must end in .jsonl' in err, (code, err)
    assert not (tmp_path / 'x.txt').exists()


def test_bench_with_one_round_shows_no_spread(tmp_path, capsys):
    from sbn_estimators.bench import run_cases
    with pytest.warns(UserWarning, match='repeats=1'): r, = run_cases('fc', ['st'], batch=4, repeats=1, threads=1)
    assert r['seconds_iqr'] is None and r['seconds_min'] == r['seconds']
    code, out, err = bench(capsys, '--nets', 'fc', '--devices', 'cpu', '--estimators', 'st', '--batch', '4', '--repeats', '1',
                           '--threads', '1', '--json', str(tmp_path / 'b.jsonl'))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[-1] == '-', out                     # the IQR column
    assert 'medians of 1' not in out and 'one step each' in lines[-1], out
    assert json.loads((tmp_path / 'b.jsonl').read_text())['seconds_iqr'] is None
