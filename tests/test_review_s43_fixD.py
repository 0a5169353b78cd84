"Review s43 (fixD): smoke falls back to generated data only when no file of the dataset is there; val's one rule in Python and the CLI; read_cifar10's train; check_catalogue's and run_references's arguments; page 10b's conv-SBN prose against its stored tables."
import json, re
import numpy as np
import pytest, torch
from conftest import ROOT, sbn_train as cli
from sbn_estimators.data import (IDX_STEMS, write_idx, write_fake_cifar10, read_cifar10, train_val_split, cifar10_data,
                                 digits_data, idx_data, cos_dataset, read_idx_dataset)
import sbn_estimators.data as D

torch.set_num_threads(1)


def fake_idx(folder, n_train=30, n_test=10):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (n_train, n_train, n_test, n_test)):
        write_idx(folder / (stem + '.gz'), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if 'images' in stem
                  else rng.integers(0, 10, n).astype(np.uint8))
    return folder


# --- 2. --smoke and an incomplete data folder -------------------------------------------------------------------

def _smoke_and_real(capsys, tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    base = ['--model', 'sbn_mlp:width=8', '--eval-samples', '1', *args]
    smoke = cli(capsys, *base, '--smoke')
    real = cli(capsys, *base, '--epochs', '1', '--quiet', '--out', str(tmp_path / 'run'))
    return smoke, real

def _falls_back_on_an_empty_folder(capsys, tmp_path, data):
    "A folder with none of the dataset's files: --smoke still runs on generated data, and says so."
    (tmp_path / 'empty').mkdir()
    code, out, err = cli(capsys, '--smoke', '--data', data, '--model', 'sbn_mlp:width=8', '--eval-samples', '1', '--data-dir', str(tmp_path / 'empty'))
    assert code == 0 and 'nothing written' in out and 'using generated data' in err, err

def test_smoke_fails_on_an_incomplete_fashion_mnist_folder(tmp_path, capsys, monkeypatch):
    d = fake_idx(tmp_path / 'fm'); (d / 't10k-labels-idx1-ubyte.gz').unlink()   # 3 of the 4 files
    smoke, real = _smoke_and_real(capsys, tmp_path, monkeypatch, '--data', 'fashion_mnist', '--data-dir', str(d))
    assert smoke[0] == real[0] == 2 and smoke[2] == real[2] and smoke[2].count('\n') == 1, (smoke, real)
    assert 'Fashion-MNIST incomplete' in smoke[2] and 'generated data' not in smoke[2]
    assert not (tmp_path / 'run').exists()
    _falls_back_on_an_empty_folder(capsys, tmp_path, 'fashion_mnist')

def test_smoke_fails_on_an_incomplete_cifar_folder(tmp_path, capsys, monkeypatch):
    d = write_fake_cifar10(tmp_path / 'c', n_per_batch=40); (d / 'data_batch_5').unlink()
    smoke, real = _smoke_and_real(capsys, tmp_path, monkeypatch, '--data', 'cifar10', '--data-dir', str(tmp_path / 'c'),
                                  '--val', '40', '--batch-size', '32')
    assert smoke[0] == real[0] == 2 and smoke[2] == real[2] and smoke[2].count('\n') == 1, (smoke, real)
    assert 'data_batch_5' in smoke[2] and 'generated data' not in smoke[2]
    _falls_back_on_an_empty_folder(capsys, tmp_path, 'cifar10')

@pytest.mark.parametrize('data', ['fashion_mnist', 'cifar10'])
def test_smoke_fails_when_data_dir_is_a_file(data, tmp_path, capsys, monkeypatch):
    f = tmp_path / 'file.txt'; f.write_text('not a folder')
    smoke, real = _smoke_and_real(capsys, tmp_path, monkeypatch, '--data', data, '--data-dir', str(f))
    assert smoke[0] == real[0] == 2 and smoke[2] == real[2] and smoke[2].count('\n') == 1, (smoke, real)
    assert 'not a folder' in smoke[2] and 'generated data' not in smoke[2]

def test_readers_say_nothing_is_there_with_a_subclass(tmp_path):
    "Nothing there: DataNotFoundError (a FileNotFoundError); some files: a plain FileNotFoundError; a file for the folder: a ValueError."
    with pytest.raises(D.DataNotFoundError): read_idx_dataset('mnist', tmp_path / 'nowhere')
    with pytest.raises(D.DataNotFoundError): read_cifar10(tmp_path / 'nowhere')
    d = write_fake_cifar10(tmp_path / 'c', n_per_batch=4); (d / 'test_batch').unlink()
    read_cifar10(tmp_path / 'c')   # the training batches are all there
    with pytest.raises(FileNotFoundError, match='test_batch') as e: read_cifar10(tmp_path / 'c', train=False)
    assert not isinstance(e.value, D.DataNotFoundError)   # some of CIFAR-10's files are there: incomplete, not absent
    f = tmp_path / 'f'; f.write_text('x')
    for call in (lambda: read_cifar10(f), lambda: read_idx_dataset('fashion_mnist', f), lambda: cifar10_data(f, download=True)):
        with pytest.raises(ValueError, match=f"must be a folder, got {re.escape(repr(str(f)))}, which is not a folder"): call()


# --- 3. val: one rule -------------------------------------------------------------------------------------------

def test_a_whole_float_val_is_a_count_as_on_the_command_line():
    for v in (5000.0, np.float64(5000), torch.tensor(5000.), 5000):
        tr, va = train_val_split(60000, v)
        assert len(va) == 5000 and len(tr) == 55000, v
    assert [len(d.splits['val'][1]) for d in (digits_data(val=100.0), digits_data(val=100))] == [100, 100]
    assert len(cos_dataset(val=40.0, n_per_class=50).splits['val'][1]) == 40

@pytest.mark.parametrize('v', [1.5, 2.25, -1.0, float('nan')])
def test_a_non_whole_val_of_one_or_more_is_refused_with_the_rule(v):
    with pytest.raises(ValueError, match=r"val must be a fraction in \[0, 1\) or a whole number of examples"): train_val_split(100, v)
    with pytest.raises(ValueError, match=r"val must be a fraction in \[0, 1\) or a whole number of examples"): digits_data(val=v)

def test_idx_and_cifar_take_a_whole_float_count(tmp_path):
    d = idx_data('mnist', root=fake_idx(tmp_path / 'm'), val=6.0, verify=False)
    assert len(d.splits['val'][1]) == 6 and len(d.splits['train'][1]) == 24
    write_fake_cifar10(tmp_path / 'c', n_per_batch=4)
    assert len(cifar10_data(tmp_path / 'c', val=5.0).splits['val'][1]) == 5


# --- 4. read_cifar10's train ------------------------------------------------------------------------------------

@pytest.mark.parametrize('bad', ['test', 0, 1, None])
def test_read_cifar10_train_must_be_a_bool(bad, tmp_path):
    write_fake_cifar10(tmp_path, n_per_batch=4)
    with pytest.raises(ValueError, match=f"train must be True or False, got {re.escape(repr(bad))}"): read_cifar10(tmp_path, train=bad)


# --- 5. check_catalogue and run_references ----------------------------------------------------------------------

def test_check_catalogue_does_not_replace_an_empty_catalogue():
    from sbn_estimators.catalogue import check_catalogue, CATALOGUE
    with pytest.raises(ValueError, match='st: registered but has no catalogue entry'): check_catalogue({})
    with pytest.raises(ValueError, match="cites .*which is not in REFERENCES"): check_catalogue(CATALOGUE, {})
    check_catalogue()   # the defaults still agree

def test_check_catalogue_names_an_entry_without_refs():
    from sbn_estimators.catalogue import check_catalogue, CATALOGUE
    st = {k: v for k, v in CATALOGUE['st'].items() if k != 'refs'}
    with pytest.raises(ValueError, match="st: entry lacks 'refs'"): check_catalogue({**CATALOGUE, 'st': st})

@pytest.mark.parametrize('arg', ['model', 'optimizer', 'data'])
@pytest.mark.parametrize('bad', [None, 3, ['adam']])
def test_run_references_arguments_must_be_strings(arg, bad):
    from sbn_estimators.catalogue import run_references
    with pytest.raises(ValueError, match=f"{arg} must be a string.*got {re.escape(repr(bad))}"): run_references('st', **{arg: bad})


# --- 1. page 10b's conv-SBN prose -------------------------------------------------------------------------------

def _cell(nb, cid): return next(c for c in nb['cells'] if c['id'] == cid)

def test_conv_sbn_prose_matches_the_stored_tables():
    nb = json.loads((ROOT / 'nbs' / '10b_psa_experiment.ipynb').read_text())
    md = ''.join(''.join(o['data']['text/markdown']) for o in _cell(nb, '49ba0f60')['outputs'] if 'text/markdown' in o.get('data', {}))
    late = md[md.index('**After 300 steps**'):]
    table = late[late.index('| rel_bias'):]
    row = lambda k: [float(x) for x in re.search(rf"\| `{k}` \|(.*)\|", table).group(1).split('|')]
    psa, st = row('psa'), row('st')
    assert all(psa[i] > st[i] for i in (0, 1)) and all(psa[i] < st[i] for i in (2, 3))   # what the prose must say
    prose = ' '.join(''.join(_cell(nb, 'ddc158b9')['source']).split())
    assert 'in bias only at the start' not in prose
    assert '0.387 and 0 against DST\'s 0.716 and 1.04' in prose and '(1.79, 1.81)' in prose and '(0.967, 0.944)' in prose
    assert "PSA's cosine with the exact gradient is about DST's" in prose   # the quoted cosines are PSA's
    mlp = ' '.join(''.join(_cell(nb, '055a6c99')['source']).split())
    assert 'at epoch 200 in both (0.7237 and 1.55 against 0.7178 and 1.158' in mlp
