"Review s50 (fix D): CIFAR-10 copies checked (a test batch that is a training batch, duplicated batches, full-size batches by MD5); idx_data's n_train/n_test cut as the trainer's; an IDX file of the other data set named as such; incomplete and damaged-gzip IDX messages end with the repair hint."
import pickle, shutil
from functools import partial
from pathlib import Path
import numpy as np
import pytest, torch
from conftest import sbn_train as cli
import sbn_estimators.data as D
from sbn_estimators.data import IDX_STEMS, write_idx, write_fake_cifar10, read_cifar10, cifar10_data, idx_data, read_idx_dataset, verify_idx

torch.set_num_threads(1)
DEBIAN = Path('/usr/share/datasets/fashion-mnist')


def fake_idx(folder, n_train=30, n_test=10, gz=True):
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (n_train, n_train, n_test, n_test)):
        write_idx(folder / (stem + ('.gz' if gz else '')), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if 'images' in stem
                  else rng.integers(0, 10, n).astype(np.uint8))
    return folder


# --- 2. CIFAR-10 copies ----------------------------------------------------------------------------------------------

def test_a_test_batch_that_is_a_training_batch_is_refused(tmp_path):
    folder = write_fake_cifar10(tmp_path, n_per_batch=8)
    shutil.copyfile(folder / 'data_batch_3', folder / 'test_batch')   # train/test overlap: the test images are training images
    with pytest.raises(ValueError) as e: cifar10_data(tmp_path, val=4)
    msg = str(e.value)
    assert str(folder / 'test_batch') in msg and str(folder / 'data_batch_3') in msg and 'same 8 images' in msg and 'the test images would be training images too' in msg and '\n' not in msg, msg

def test_the_same_images_under_another_batch_label_are_refused_too(tmp_path):
    folder = write_fake_cifar10(tmp_path, n_per_batch=8)
    with open(folder / 'data_batch_1', 'rb') as f: d = pickle.load(f, encoding='bytes')
    d[b'batch_label'] = b'testing batch 1 of 1'
    with open(folder / 'test_batch', 'wb') as f: pickle.dump(d, f)   # not the same bytes, the same images
    with pytest.raises(ValueError, match='test_batch holds the same 8 images as .*data_batch_1'): cifar10_data(tmp_path, val=4)

def test_duplicated_training_batches_are_refused(tmp_path):
    folder = write_fake_cifar10(tmp_path, n_per_batch=8)
    shutil.copyfile(folder / 'data_batch_1', folder / 'data_batch_4')
    with pytest.raises(ValueError, match=r'data_batch_4 holds the same 8 images as .*data_batch_1: a CIFAR-10 batch copied over another \(their images would be trained on twice\)'): read_cifar10(tmp_path)
    read_cifar10(tmp_path, train=False)   # the test batch alone is fine

def test_a_full_size_batch_must_have_cifar10s_md5(tmp_path):
    "A batch of 10 000 images (CIFAR-10's size) is checked against torchvision's MD5; smaller (generated) batches are not."
    folder = write_fake_cifar10(tmp_path, n_per_batch=8)
    rng = np.random.default_rng(0)
    with open(folder / 'test_batch', 'wb') as f:
        pickle.dump({b'data': rng.integers(0, 256, (10000, 3072), dtype=np.uint8), b'labels': rng.integers(0, 10, 10000).tolist()}, f)
    with pytest.raises(ValueError, match="test_batch is damaged: it holds 10000 images, as CIFAR-10's test_batch does, but its MD5 differs"):
        read_cifar10(tmp_path, train=False)
    with pytest.raises(ValueError, match='MD5 differs'): cifar10_data(tmp_path, val=4)


# --- 3. n_train / n_test: the trainer's rule ------------------------------------------------------------------------

@pytest.mark.parametrize('val', [0, 6, 0.2])
def test_idx_data_subsets_are_the_trainers(val, tmp_path, monkeypatch):
    from sbn_estimators.train import TrainConfig, load_data
    fake_idx(tmp_path, n_train=40, n_test=20)
    monkeypatch.setitem(D.DATASETS, 'fashion_mnist', partial(D.fashion_mnist_data, verify=False))   # small generated files
    for seed in (0, 3):
        run = load_data(TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), model='sbn_mlp:width=8', batch_size=4, seed=seed, val=val, n_train=11, n_test=7))
        for py in (idx_data('fashion_mnist', seed=seed, root=tmp_path, val=val, verify=False, n_train=11, n_test=7),
                   D.get_data('fashion_mnist', seed=seed, root=tmp_path, val=val, verify=False, n_train=11, n_test=7)):
            for k in ('train', 'val', 'test'):
                assert torch.equal(py.splits[k][0], run.splits[k][0]) and torch.equal(py.splits[k][1], run.splits[k][1]), (seed, k)


# --- 4. the other data set's file ----------------------------------------------------------------------------------

def test_the_other_datasets_file_is_named_not_called_damaged(tmp_path, monkeypatch):
    folder = fake_idx(tmp_path / 'fm')
    raws = [D._idx_bytes(D._idx_file(folder, s)) for s in IDX_STEMS]
    monkeypatch.setattr(D, '_IDX_BYTES', tuple(map(len, raws)))   # the generated files stand for Fashion-MNIST's
    monkeypatch.setitem(D.IDX_DATASETS, 'fashion_mnist', {**D.IDX_DATASETS['fashion_mnist'], 'sha256': tuple(D.hashlib.sha256(r).hexdigest() for r in raws)})
    read_idx_dataset('fashion_mnist', folder)
    with pytest.raises(ValueError) as e: read_idx_dataset('mnist', folder)
    msg = str(e.value)
    assert "is Fashion-MNIST's train-images-idx3-ubyte, not MNIST's" in msg and 'use --data fashion_mnist' in msg and 'damaged' not in msg, msg

@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_smoke_with_mnist_pointed_at_fashion_mnist(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, '--smoke', '--data', 'mnist', '--data-dir', str(DEBIAN), '--model', 'sbn_mlp:width=8', '--eval-samples', '1')
    assert code == 2 and err.count('\n') == 1 and 'damaged' not in err and "Fashion-MNIST's" in err and 'use --data fashion_mnist' in err, err


# --- 5. incomplete and damaged-gzip messages end with the repair hint ------------------------------------------------

HINTS = {'fashion_mnist': 'reinstall it with `apt-get install --reinstall dataset-fashion-mnist`, or point root (--data-dir) at a good copy',
         'mnist': 'download the four files again, or point root (--data-dir) at a good copy'}

@pytest.mark.parametrize('name', ['fashion_mnist', 'mnist'])
def test_an_incomplete_folder_says_how_to_mend_it(name, tmp_path):
    folder = fake_idx(tmp_path / 'one')
    for s in IDX_STEMS[1:]: (folder / (s + '.gz')).unlink()   # one of the four files
    with pytest.raises(FileNotFoundError) as e: read_idx_dataset(name, folder, verify=False)
    assert str(e.value).endswith(f"has no train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]; {HINTS[name]}"), e.value

@pytest.mark.parametrize('name', ['fashion_mnist', 'mnist'])
def test_a_truncated_gzip_file_says_how_to_mend_it(name, tmp_path):
    folder = fake_idx(tmp_path / 'cut')
    p = folder / 't10k-images-idx3-ubyte.gz'; p.write_bytes(p.read_bytes()[:100])
    for call in (lambda: read_idx_dataset(name, folder, verify=False),   # read as it is
                 lambda: verify_idx(name, 2, p)):                       # checked first (as read_idx_dataset does by default)
        with pytest.raises(ValueError) as e: call()
        msg = str(e.value)
        assert f"{p} is a damaged gzip file (" in msg and msg.endswith(f"); {HINTS[name]}") and '\n' not in msg, msg
