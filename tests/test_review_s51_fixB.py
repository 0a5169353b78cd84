"Review s51, fixB: CIFAR-10's copy check (`_same_batches`, a hash of every image) is skipped when every batch is MD5-verified, and still runs, before the 'damaged' verdict, otherwise."
import hashlib, shutil
from pathlib import Path
import pytest, torch
import sbn_estimators.data as D

torch.set_num_threads(1)

def _stand_ins(tmp_path, monkeypatch, n=30):
    "A fake CIFAR-10 folder whose batches stand in for CIFAR-10's own full-size files (their MD5s in `CIFAR10_MD5`)."
    f = D.write_fake_cifar10(tmp_path, n_per_batch=n)
    monkeypatch.setattr(D, 'CIFAR10_BATCH', n)
    monkeypatch.setattr(D, 'CIFAR10_MD5', {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in Path(f).iterdir()})
    return Path(f)

def _counting(monkeypatch):
    calls, real = [], D._same_batches
    def spy(batches): calls.append(len(batches)); return real(batches)
    monkeypatch.setattr(D, '_same_batches', spy)
    return calls

def test_verified_batches_skip_the_copy_check(tmp_path, monkeypatch):
    _stand_ins(tmp_path, monkeypatch)
    def boom(batches): raise AssertionError('_same_batches called on MD5-verified batches')
    monkeypatch.setattr(D, '_same_batches', boom)
    d = D.cifar10_data(tmp_path, val=10)
    assert [len(d.splits[k][1]) for k in ('train', 'val', 'test')] == [140, 10, 30]
    assert len(D.read_cifar10(tmp_path)[1]) == 150 and len(D.read_cifar10(tmp_path, train=False)[1]) == 30

def test_unverified_batches_are_still_compared(tmp_path, monkeypatch):
    D.write_fake_cifar10(tmp_path, n_per_batch=8)   # small batches: no MD5 to check
    calls = _counting(monkeypatch)
    D.cifar10_data(tmp_path, val=4); D.read_cifar10(tmp_path)
    assert calls == [6, 5]

def test_one_unverified_batch_brings_the_copy_check_back(tmp_path, monkeypatch):
    f = _stand_ins(tmp_path, monkeypatch)
    shutil.copy(f / 'data_batch_2', f / 'data_batch_5')   # verified as data_batch_2's file, not as data_batch_5's
    calls = _counting(monkeypatch)
    with pytest.raises(ValueError, match=r"data_batch_5 holds the same 30 images as .*data_batch_2: a CIFAR-10 batch copied over another \(their images would be trained on twice\)"):
        D.cifar10_data(tmp_path, val=10)
    with pytest.raises(ValueError, match=r"data_batch_5 holds the same 30 images as .*data_batch_2"): D.read_cifar10(tmp_path)
    assert calls == [6, 5]

def test_a_damaged_batch_that_is_no_copy_is_called_damaged(tmp_path, monkeypatch):
    f = _stand_ins(tmp_path, monkeypatch)
    D.CIFAR10_MD5['data_batch_3'] = '0' * 32   # its file no longer CIFAR-10's
    calls = _counting(monkeypatch)
    with pytest.raises(ValueError, match=r"data_batch_3 is damaged: it holds 30 images"): D.cifar10_data(tmp_path, val=10)
    assert calls == [6]   # compared first, no copy found
