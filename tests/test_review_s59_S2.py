"Review s59, S2: a corrupted network file whose header claims a huge array, and a small gzip file that inflates far past its size."
import gzip, io, zipfile, zlib
from pathlib import Path
import numpy as np
import pytest
from sbn_estimators.data import IDX_STEMS, read_idx, read_idx_dataset, verify_idx, write_idx
from sbn_estimators.gradeval import gradeval_cli
from sbn_estimators.sbn import load_sbn

DEBIAN = Path('/usr/share/datasets/fashion-mnist')


# 1. a .npz member whose .npy header claims 10**12 x 2 float64 but holds no data: corrupted, not out of memory

def npy_member(shape, descr='<f8', data=b''):
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, dict(descr=descr, fortran_order=False, shape=shape))
    return b.getvalue() + data


def huge_npz(path, n=10**12):
    ok = lambda s: (s, np.zeros(s).tobytes())
    members = dict(X=((n, 2), b''), Y=ok((2, 1)), W0=ok((1, 2)), b0=ok((1,)), W1=ok((1, 1)), b1=ok((1,)))
    with zipfile.ZipFile(path, 'w') as z:
        for k, (s, data) in members.items(): z.writestr(k + '.npy', npy_member(s, data=data))
    return path


@pytest.mark.parametrize('n', [10**12, 10**9])
def test_load_sbn_refuses_a_header_claiming_more_than_the_file_holds(tmp_path, n):
    p = huge_npz(tmp_path / 'huge.npz', n)
    with pytest.raises(ValueError) as e: load_sbn(p)
    msg = str(e.value)
    assert f'{p} is corrupted or not a network file (array X: ' in msg and f'({n}, 2)' in msg and '\n' not in msg, msg


def test_gradeval_cli_exits_2_on_such_a_file(tmp_path, capsys):
    p = huge_npz(tmp_path / 'huge.npz')
    with pytest.raises(SystemExit) as e: gradeval_cli([str(p), '--no-progress'])
    err = capsys.readouterr().err
    assert e.value.code == 2, (e.value.code, err)
    assert err.startswith('sbn-gradeval: error: ') and 'is corrupted or not a network file' in err, err
    assert 'out of memory' not in err and '--samples' not in err, err


def test_a_memory_error_while_reading_is_a_corrupted_file(tmp_path, monkeypatch):
    p = huge_npz(tmp_path / 'ok.npz', 1)   # a member that holds less than its header says, found only by numpy
    import sbn_estimators.sbn as S
    monkeypatch.setattr(S, '_check_member_size', lambda f, key: None, raising=False)
    monkeypatch.setattr(np.lib.npyio.NpzFile, '__getitem__', lambda self, key: (_ for _ in ()).throw(MemoryError('Unable to allocate')))
    with pytest.raises(ValueError, match='is corrupted or not a network file .array [A-Za-z0-9]+: Unable to allocate'): load_sbn(p)


# 2. a small gzip file that inflates far past the size it must have: refused after decompressing at most that size + 1

class CountingDecompressor:
    "zlib's decompressor, counting the bytes it hands out (gzip.decompress uses the same zlib module)."
    total = 0
    def __init__(self, real): self._d = real
    def decompress(self, data, max_length=0):
        out = self._d.decompress(data, max_length)
        CountingDecompressor.total += len(out)
        return out
    def __getattr__(self, name): return getattr(self._d, name)


@pytest.fixture
def counted(monkeypatch):
    real = zlib.decompressobj
    CountingDecompressor.total = 0
    monkeypatch.setattr(zlib, 'decompressobj', lambda *a, **kw: CountingDecompressor(real(*a, **kw)))
    return CountingDecompressor


def bomb(path, head, n_zeros=20 << 20):
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    path.write_bytes(co.compress(head) + co.compress(b'\0' * n_zeros) + co.flush())
    return path


def test_read_idx_stops_at_the_size_its_header_gives(tmp_path, counted):
    head = bytes([0, 0, 8, 3]) + b''.join(k.to_bytes(4, 'big') for k in (10, 28, 28))
    p = bomb(tmp_path / 'x-idx3-ubyte.gz', head)
    assert p.stat().st_size < 100_000
    with pytest.raises(ValueError, match=r'IDX header says shape \(10, 28, 28\) \(7840 bytes of data\), the file holds more than 7840'):
        read_idx(p)
    assert counted.total <= 16 + 7840 + 1, counted.total


def test_verify_idx_stops_at_the_size_of_the_data_sets_file(tmp_path, counted):
    p = bomb(tmp_path / 'train-labels-idx1-ubyte.gz', bytes([0, 0, 8, 1]) + (60000).to_bytes(4, 'big'))
    with pytest.raises(ValueError, match="is damaged: more than 60008 bytes after decompression, Fashion-MNIST's train-labels-idx1-ubyte has 60008; reinstall"):
        verify_idx('fashion_mnist', 1, p)
    assert counted.total <= 60008 + 1, counted.total


def test_read_idx_dataset_refuses_a_bomb_unverified(tmp_path, counted):
    rng = np.random.default_rng(0)
    for stem, n in zip(IDX_STEMS, (10, 10, 5, 5)):
        write_idx(tmp_path / (stem + '.gz'), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if 'images' in stem else rng.integers(0, 10, n).astype(np.uint8))
    head = bytes([0, 0, 8, 3]) + b''.join(k.to_bytes(4, 'big') for k in (10, 28, 28))
    bomb(tmp_path / 'train-images-idx3-ubyte.gz', head)
    counted.total = 0
    with pytest.raises(ValueError, match='the file holds more than 7840; reinstall'): read_idx_dataset('fashion_mnist', tmp_path, verify=False)
    assert counted.total <= 7857, counted.total


def test_gzip_files_read_as_gzip_decompress_reads_them(tmp_path):
    data = bytes([0, 0, 8, 1]) + (1000).to_bytes(4, 'big') + bytes(range(250)) * 4
    p = tmp_path / 'm.gz'
    p.write_bytes(gzip.compress(data[:7]) + gzip.compress(data[7:500]) + b'\0\0\0' + gzip.compress(data[500:]))   # members, padding
    assert np.array_equal(read_idx(p), np.frombuffer(data[8:], np.uint8))
    good = gzip.compress(data)
    crc = bytearray(good); crc[-6] ^= 1
    for bad in (good[:-3], good[:-9], good + b'xx', bytes(crc), good[:12]):
        p.write_bytes(bad)
        with pytest.raises(ValueError, match='is a damaged gzip file'): read_idx(p)


@pytest.mark.skipif(not DEBIAN.is_dir(), reason='Fashion-MNIST not installed')
def test_fashion_mnist_reads_as_before():
    for k, s in enumerate(IDX_STEMS):
        p = DEBIAN / f'{s}.gz'
        raw = gzip.decompress(p.read_bytes())
        assert verify_idx('fashion_mnist', k, p) == raw
        a = read_idx(p)
        assert a.tobytes() == raw[16 if 'images' in s else 8:] and a.shape[0] == (60000 if 'train' in s else 10000)
