"A CIFAR-10 batch is unpickled with only numpy's array reconstructors allowed: a file that would run code is refused before it runs."
import pickle, numpy as np, pytest
from sbn_estimators.data import read_cifar10, write_fake_cifar10

class _Evil:
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (self.path, 'w'))   # creates a file when unpickled

def test_code_in_a_batch_is_not_run(tmp_path):
    folder = write_fake_cifar10(tmp_path / 'd', n_per_batch=4)
    flag = tmp_path / 'PWNED'
    d = pickle.loads((folder / 'data_batch_1').read_bytes(), encoding='bytes')
    d[b'data'] = _Evil(str(flag))
    (folder / 'data_batch_1').write_bytes(pickle.dumps(d))
    with pytest.raises(ValueError, match=r"data_batch_1 is not a CIFAR-10 batch: it refers to (io|builtins)\.open"):
        read_cifar10(folder, train=True)
    assert not flag.exists()

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_pickles_of_every_protocol_read(tmp_path, protocol):
    folder = write_fake_cifar10(tmp_path / 'd', n_per_batch=3)
    for n in ['data_batch_1', 'test_batch']:
        d = pickle.loads((folder / n).read_bytes(), encoding='bytes')
        (folder / n).write_bytes(pickle.dumps(d, protocol=protocol))
    X, y = read_cifar10(folder, train=False)
    assert X.shape == (3, 3, 32, 32) and y.shape == (3,)

def test_labels_as_numpy_integers_read(tmp_path):
    # a batch converted by hand into CIFAR's layout: labels a list of numpy integers (numpy's `scalar` reconstructor)
    folder = write_fake_cifar10(tmp_path / 'd', n_per_batch=3)
    d = pickle.loads((folder / 'test_batch').read_bytes(), encoding='bytes')
    d[b'labels'] = list(np.array(d[b'labels']))
    (folder / 'test_batch').write_bytes(pickle.dumps(d, protocol=2))
    X, y = read_cifar10(folder, train=False)
    assert y.tolist() == [int(v) for v in d[b'labels']]
