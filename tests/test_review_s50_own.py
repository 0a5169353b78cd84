"Review s50, the whole change: a copied full-size CIFAR-10 batch is named as a copy (not 'damaged'), write_fake_cifar10 refuses full-size batches, model specs read 'None' back, refusals list parameters as a spec writes them, np.bool_ is no layer index, sbn-bench reports its finished cases when a write fails, gradeval's resume advice for the toy is complete."
import hashlib, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest, torch
import sbn_estimators.data as D
from sbn_estimators.core import check_layer_index
from sbn_estimators.estimators import estimator
from sbn_estimators.models import get_model, register_model, MODELS
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)

def test_a_copied_full_size_batch_is_named_as_a_copy(tmp_path, monkeypatch):
    f = D.write_fake_cifar10(tmp_path, n_per_batch=30)
    monkeypatch.setattr(D, 'CIFAR10_BATCH', 30)   # these files stand in for CIFAR-10's own full-size ones
    monkeypatch.setattr(D, 'CIFAR10_MD5', {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in Path(f).iterdir()})
    D.cifar10_data(tmp_path, val=10)   # the stand-ins load
    shutil.copy(Path(f) / 'data_batch_3', Path(f) / 'test_batch')
    with pytest.raises(ValueError, match=r"test_batch holds the same 30 images as .*data_batch_3: a CIFAR-10 batch copied over another \(the test images would be training images too\)"):
        D.cifar10_data(tmp_path, val=10)
    with pytest.raises(ValueError, match=r"test_batch is damaged: it holds 30 images"): D.read_cifar10(tmp_path, train=False)   # alone, a full-size batch that is not CIFAR-10's

@pytest.mark.parametrize('n', [10000, 20000])
def test_fake_cifar10_refuses_full_size_batches(tmp_path, n):
    with pytest.raises(ValueError, match=f"n_per_batch must be below CIFAR-10's 10000 images per batch .* got {n}"): D.write_fake_cifar10(tmp_path, n_per_batch=n)
    assert not (tmp_path / 'cifar-10-batches-py').exists()

def test_model_spec_reads_none_back(monkeypatch):
    seen = {}
    def tiny(est, in_shape, n_out, width=8, noise=None):
        seen['noise'] = noise
        return SBNMLP([in_shape[0], width, n_out])
    monkeypatch.setitem(MODELS, 'tiny_none', None); del MODELS['tiny_none']
    register_model('tiny_none', 'sbn', (None,), 'digits', 'a test model')(tiny)
    try:
        get_model('tiny_none:noise=None', 'st', in_shape=(4,))
        assert seen['noise'] is None
        get_model('tiny_none:noise=logistic', 'st', in_shape=(4,))
        assert seen['noise'] == 'logistic'
    finally: MODELS.pop('tiny_none', None)

def test_refusals_list_parameters_as_a_spec_writes_them():
    with pytest.raises(ValueError) as e: estimator('reinforce:bogus=1')
    listed = str(e.value).split('valid parameters: ')[1]
    assert "baseline=none" in listed and "'" not in listed
    assert estimator('reinforce:' + listed).hparams() == estimator('reinforce').hparams()   # written back as listed
    with pytest.raises(ValueError) as e: get_model('sbn_mlp:bogus=1', 'st', in_shape=(64,))
    listed = str(e.value).split('valid parameters: ')[1]
    assert 'noise=logistic' in listed and "'" not in listed
    get_model('sbn_mlp:' + listed, 'st', in_shape=(64,))

def test_numpy_bool_is_no_layer_index():
    for k in (np.True_, np.False_, True): 
        with pytest.raises(ValueError, match='k must be the index of a binary layer'): check_layer_index(k, 2)
    assert check_layer_index(np.int64(1), 2) == 1

def test_gradeval_resume_advice_for_the_toy_given_a_file(tmp_path, monkeypatch, capsys):
    from sbn_estimators.gradeval import gradeval_cli
    from sbn_estimators.sbn import save_sbn, cos_data
    monkeypatch.chdir(tmp_path)
    def run(args):
        try: gradeval_cli([*args, '--no-progress']); return 0, capsys.readouterr().err
        except SystemExit as e: return e.code, capsys.readouterr().err
    args = ['--estimators', 'exact', '--samples', '10', '--json', 'r.json']
    assert run(['--epochs', '2', *args])[0] == 0
    (tmp_path / 'r.json').rename(tmp_path / 'r.json.partial')
    X, Y = cos_data(seed=0)
    save_sbn(tmp_path / 'n.npz', SBNMLP([2, 5, 5, 5, 1]), X, Y)
    code, err = run(['n.npz', *args, '--resume'])
    assert code == 2 and 'give no network file (the toy network) and --epochs 2 to continue r.json.partial' in err, err

def test_bench_reports_its_finished_cases_when_a_write_fails(tmp_path):
    "A full disk (a file-size limit) stops the second case's write: the finished case's table and a line saying where its rows are, then the error (exit 1)."
    from test_review_s50_B1 import _bench
    out = tmp_path / 'b.jsonl'
    assert _bench(tmp_path, 0, '--json', 'b.jsonl').returncode == 0
    first = ''.join(l + '\n' for l in out.read_text().splitlines()[:2])
    p = _bench(tmp_path, len(first) + 500, '--json', 'b.jsonl')
    assert p.returncode == 1, p.stderr
    # both cases measured (review s57: the case whose write failed is not lost); the file keeps the first case's rows
    assert ('sbn-bench: 2 of 2 cases finished (fc on cpu, cifar on cpu); their table is above; '
            "writing b.jsonl failed (it holds this run's first 2 rows)") in p.stderr, p.stderr
    assert out.read_text() == first
    assert p.stderr.strip().splitlines()[-1].startswith('sbn-bench: error: ') and 'File too large' in p.stderr
    assert p.stdout.splitlines()[0].split()[:2] == ['net', 'device'] and 'cifar' in p.stdout, p.stdout   # the finished cases' table
