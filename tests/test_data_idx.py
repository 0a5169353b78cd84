"Fashion-MNIST / MNIST IDX loading: errors users can act on, checksums, and (when installed) the real files."
import gzip, hashlib
from pathlib import Path
import numpy as np
import pytest
import torch
from sbn_estimators.data import (IDX_DATASETS, IDX_STEMS, get_data, read_idx, read_idx_dataset, verify_idx, write_idx,
                                 fashion_mnist_data, mnist_data)

DEBIAN = Path('/usr/share/datasets/fashion-mnist')


def fake(folder, n_train=30, n_test=10, gz=True, labels=None, size=28):
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (n_train, n_train, n_test, n_test)):
        a = (rng.integers(0, 256, (n, size, size), dtype=np.uint8) if 'images' in stem
             else (labels if labels is not None else rng.integers(0, 10, n)).astype(np.uint8)[:n])
        write_idx(folder / (stem + ('.gz' if gz else '')), a)
    return folder


def test_missing_files_say_what_to_install(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError) as e: read_idx_dataset('fashion_mnist', tmp_path / 'empty')
    msg = str(e.value)
    assert '\n' not in msg and 'apt-get install dataset-fashion-mnist' in msg and '--data-dir' in msg
    assert str(tmp_path / 'empty' / 'FashionMNIST' / 'raw') in msg   # the folders searched
    with pytest.raises(FileNotFoundError, match='nowhere does not exist; install it with'): read_idx_dataset('fashion_mnist', tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='MNIST not found.*torchvision.datasets.MNIST'): mnist_data(root=tmp_path)
    fake(tmp_path / 'partial'); (tmp_path / 'partial' / 't10k-labels-idx1-ubyte.gz').unlink()
    with pytest.raises(FileNotFoundError) as e: read_idx_dataset('mnist', tmp_path / 'partial', verify=False)
    assert str(e.value) == (f"MNIST incomplete: {tmp_path / 'partial'} has no t10k-labels-idx1-ubyte[.gz]; "   # only the missing file
                            "download the four files again, or point root (--data-dir) at a good copy")


def test_layouts_and_get_data(tmp_path):
    fake(tmp_path / 'MNIST' / 'raw', gz=False)
    d = get_data('mnist', seed=0, root=tmp_path, val=0.2, verify=False)
    assert [len(d.splits[k][1]) for k in ('train', 'val', 'test')] == [24, 6, 10]
    assert d.in_shape == (784,) and d.name == 'mnist'


def test_damaged_files(tmp_path):
    fake(tmp_path)
    with pytest.raises(ValueError, match='is damaged: .* bytes after decompression.*apt-get install --reinstall dataset-fashion-mnist'):
        read_idx_dataset('fashion_mnist', tmp_path)
    good_size = write_idx(tmp_path / 'labels.gz', np.zeros(60000, np.uint8))         # right size, wrong content
    with pytest.raises(ValueError, match="checksum differs from Fashion-MNIST's train-labels-idx1-ubyte"):
        verify_idx('fashion_mnist', 1, good_size)
    with pytest.raises(ValueError, match="checksum differs from MNIST's .*download the four files again"): verify_idx('mnist', 1, good_size)
    plain = write_idx(tmp_path / 'labels', np.zeros(60000, np.uint8))   # uncompressed: checked by its content too
    with pytest.raises(ValueError, match="labels is damaged: its checksum differs from MNIST's train-labels-idx1-ubyte"):
        verify_idx('mnist', 1, plain)
    (tmp_path / 'train-images-idx3-ubyte.gz').write_bytes(b'\x1f\x8b' + b'junk' * 10)
    with pytest.raises(ValueError, match='damaged gzip'): read_idx_dataset('fashion_mnist', tmp_path, verify=False)


def test_mnist_is_judged_by_its_content_however_compressed(tmp_path, monkeypatch):
    "A correct MNIST file gzipped again (another level, another time stamp) is accepted like the same bytes uncompressed."
    content = write_idx(tmp_path / 'train-labels-idx1-ubyte', np.random.default_rng(0).integers(0, 10, 60000).astype(np.uint8)).read_bytes()
    official = tmp_path / 'official.gz'; official.write_bytes(gzip.compress(content, mtime=0))
    again = tmp_path / 'again.gz'; again.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    assert official.read_bytes() != again.read_bytes()
    spec = IDX_DATASETS['mnist']    # this content stands in for MNIST's: its checksums pinned in both forms
    monkeypatch.setitem(spec, 'md5', ('', hashlib.md5(content).hexdigest(), '', ''))
    monkeypatch.setitem(spec, 'gz_md5', ('', hashlib.md5(official.read_bytes()).hexdigest(), '', ''))
    for path in (tmp_path / 'train-labels-idx1-ubyte', official, again): assert verify_idx('mnist', 1, path) == content
    other = np.zeros(60000, np.uint8)   # the right size, other content: refused gzipped or not
    for path in (write_idx(tmp_path / 'other', other), write_idx(tmp_path / 'other.gz', other)):
        with pytest.raises(ValueError, match="checksum differs from MNIST's train-labels-idx1-ubyte"): verify_idx('mnist', 1, path)


def test_bad_contents(tmp_path):
    fake(tmp_path / 'a', labels=np.full(30, 12))
    with pytest.raises(ValueError, match=r'in 0\.\.9'): read_idx_dataset('mnist', tmp_path / 'a', verify=False)
    fake(tmp_path / 'b', size=27)
    with pytest.raises(ValueError, match=r'images \[N, 28, 28\]'): read_idx_dataset('mnist', tmp_path / 'b', verify=False)
    fake(tmp_path / 'c', n_test=5)
    write_idx(tmp_path / 'c' / 't10k-labels-idx1-ubyte.gz', np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match='5 images and 4 labels'): read_idx_dataset('mnist', tmp_path / 'c', verify=False)
    (tmp_path / 'x').write_bytes(b'PK\x03\x04 a zip file')
    with pytest.raises(ValueError, match='not an IDX file'): read_idx(tmp_path / 'x')


def test_argument_validation(tmp_path):
    fake(tmp_path)
    with pytest.raises(ValueError, match="scale must be 'pm1' or 'unit'"): fashion_mnist_data(root=tmp_path, scale='z', verify=False)
    with pytest.raises(ValueError, match='validation size'): fashion_mnist_data(root=tmp_path, val=30, verify=False)
    with pytest.raises(ValueError, match=r'n_test must be a positive integer \(None: all\), got 0'): fashion_mnist_data(root=tmp_path, n_test=0, verify=False)
    with pytest.raises(ValueError, match=r'n_test must be in 1\.\.10, got 11'): fashion_mnist_data(root=tmp_path, n_test=11, verify=False)
    with pytest.raises(ValueError, match=r'n_train must be in 1\.\.27'): fashion_mnist_data(root=tmp_path, val=3, n_train=28, verify=False)
    with pytest.raises(ValueError, match='valid: fashion_mnist, mnist'): read_idx_dataset('kmnist', tmp_path)
    with pytest.raises(ValueError, match='IDX stores'): write_idx(tmp_path / 'b', np.zeros(3, bool))


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    d = fashion_mnist_data(seed=0)          # default location: Debian's folder; sizes and checksums verified
    assert [len(d.splits[k][1]) for k in ('train', 'val', 'test')] == [54000, 6000, 10000]
    y = torch.cat([d.splits['train'][1], d.splits['val'][1]])
    assert torch.bincount(y).tolist() == [6000] * 10 and torch.bincount(d.splits['test'][1]).tolist() == [1000] * 10
    x = d.input(d.splits['test'][0][:100])
    assert x.shape == (100, 784) and float(x.min()) == -1 and float(x.max()) == 1
    assert fashion_mnist_data(root=DEBIAN, flatten=False).in_shape == (1, 28, 28)


def _fake_idx(folder, top=9, n=40):
    "Fake Fashion-MNIST IDX files in `folder`: random 28x28 images, labels 0..top in turn."
    rng = np.random.default_rng(0)
    for s, N in zip(IDX_STEMS, (n, n, n // 2, n // 2)):
        write_idx(Path(folder) / s, rng.integers(0, 256, (N, 28, 28), dtype=np.uint8) if 'images' in s else np.arange(N, dtype=np.uint8) % (top + 1))

def test_labels_above_9_are_refused(tmp_path):
    _fake_idx(tmp_path, top=10)
    with pytest.raises(ValueError, match=r'in 0\.\.9'): read_idx_dataset('fashion_mnist', tmp_path, verify=False)

def test_the_n_train_subset_is_the_first_n_of_the_training_split(tmp_path):
    "As the trainer's TrainConfig.n_train: the first n of the seeded training split, so with no validation the same for every seed."
    from sbn_estimators.data import idx_data
    _fake_idx(tmp_path)
    full, sub = (idx_data('fashion_mnist', seed=1, root=tmp_path, val=5, verify=False, n_train=n).splits['train'] for n in (None, 10))
    assert torch.equal(sub[0], full[0][:10]) and torch.equal(sub[1], full[1][:10])
    subs = [idx_data('fashion_mnist', seed=s, root=tmp_path, val=0, verify=False, n_train=10).splits['train'][1] for s in (0, 1)]
    assert torch.equal(*subs)
