"Review s54 (packaging): a torchvision that is installed but fails to import (a build for another torch) is named as such: `cifar10_data(download=True)` raises a one-line ValueError (sbn-train: exit 2), and the hint tells it apart from 'not installed'."
import builtins, sys
import pytest, torch
from sbn_estimators.data import cifar10_data, DataNotFoundError
from conftest import sbn_train

torch.set_num_threads(1)
NMS = 'operator torchvision::nms does not exist'


@pytest.fixture
def broken_torchvision(monkeypatch):
    "`import torchvision` raises RuntimeError, as a CUDA torchvision 0.28 next to a CPU torch does."
    real = builtins.__import__
    def imp(name, *a, **k):
        if name == 'torchvision' or name.startswith('torchvision.'): raise RuntimeError(NMS)
        return real(name, *a, **k)
    monkeypatch.delitem(sys.modules, 'torchvision', raising=False)
    monkeypatch.setattr(builtins, '__import__', imp)


@pytest.fixture
def no_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torchvision', None)   # import torchvision: ModuleNotFoundError, as if not installed


def test_download_with_a_broken_torchvision_is_a_value_error(tmp_path, broken_torchvision):
    with pytest.raises(ValueError) as e: cifar10_data(tmp_path / 'nope', download=True)
    msg = str(e.value)
    assert f"{tmp_path / 'nope'} does not exist" in msg and '\n' not in msg, msg
    assert f'downloading needs torchvision, which is installed but fails to import (RuntimeError: {NMS})' in msg, msg
    assert 'install the torchvision build that matches your torch' in msg and 'not installed' not in msg, msg


def test_hint_names_a_broken_torchvision(tmp_path, broken_torchvision):
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'nope')
    msg = str(e.value)
    assert f'torchvision is installed but fails to import (RuntimeError: {NMS})' in msg and 'not installed' not in msg, msg
    assert 'install the torchvision build that matches your torch and pass download=True' in msg, msg


def test_hint_names_a_missing_torchvision(tmp_path, no_torchvision):
    with pytest.raises(DataNotFoundError) as e: cifar10_data(tmp_path / 'nope')
    msg = str(e.value)
    assert 'install torchvision and pass download=True to fetch it (torchvision is not installed; install it with the constraints file: pip install -c constraints.txt -e ".[cifar]"' in msg and 'fails to import' not in msg, msg


def test_download_without_torchvision_unchanged(tmp_path, no_torchvision):
    with pytest.raises(ValueError) as e: cifar10_data(tmp_path / 'nope', download=True)
    assert 'downloading needs torchvision, which is not installed: install it with the constraints file: pip install -c constraints.txt -e ".[cifar]"' in str(e.value), str(e.value)
    assert "PyPI's torchvision failing to import next to it, or put" in str(e.value), str(e.value)


def test_sbn_train_download_with_a_broken_torchvision_is_one_line(tmp_path, monkeypatch, capsys, broken_torchvision):
    monkeypatch.chdir(tmp_path)
    code, _, err = sbn_train(capsys, '--data', 'cifar10', '--epochs', '1', '--threads', '1', '--download')
    assert code == 2 and err.count('\n') == 1 and err.startswith('sbn-train: error: '), (code, err)
    assert 'installed but fails to import (RuntimeError' in err and 'matches your torch' in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_cifar_extra_installs_torchvision():
    "torchvision (CIFAR-10's download) is the extra `cifar`, not a dev requirement; the data page says how to install it."
    from configparser import ConfigParser
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    cfg = ConfigParser(delimiters=['=']); cfg.read(root / 'settings.ini', encoding='utf-8')
    assert cfg['DEFAULT']['cifar_requirements'].split() == ['torchvision']
    assert 'torchvision' not in cfg['DEFAULT']['dev_requirements']
    assert "'cifar': cifar_requirements" in (root / 'setup.py').read_text(encoding='utf-8')
    import json
    page = ''.join(''.join(c['source']) for c in json.loads((root / 'nbs' / '13_data.ipynb').read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'markdown')
    assert 'pip install -c constraints.txt -e ".[cifar]"' in page   # with the constraints: a plain install can replace torch (review s57)
