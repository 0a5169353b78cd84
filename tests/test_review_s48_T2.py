"Review s48, fix T2: a resumed run calls a stateful schedule once per epoch (as an uninterrupted one) and `load_run`'s path restores it as saved; comparison_table's s/epoch as mean ± std; evaluate_run checks `device` first; plot_metrics writes to file-like objects and suffix-less paths as savefig; import_binary takes exports of a compiled model by earlier versions; wrong `out`/`checkpoint` of load_run/evaluate_run named."
import csv, io, json, shutil
from pathlib import Path
import pytest
import torch
import sbn_estimators.train as T
from sbn_estimators.train import TrainConfig, train, load_run, evaluate_run

torch.set_num_threads(1)

PLUGIN = '''import torch
from sbn_estimators.estimators import register_estimator, ESTIMATORS
from sbn_estimators.straight_through import ST
if 'counting_st_t2' not in ESTIMATORS:
    @register_estimator('counting_st_t2')
    class CountingST(ST):
        "ST whose surrogate is scaled by the number of on_epoch calls seen (a stateful schedule), kept in its state_dict."
        def __init__(self, noise='logistic', deterministic=False):
            super().__init__(noise, deterministic); self.calls = 0
        def on_epoch(self, model, epoch, epochs): self.calls += 1
        def slope(self, a): return 2 * self._noise.pdf(a) * (1.0 + 0.5 * self.calls)
        def state_dict(self): return {'calls': torch.tensor(self.calls)}
        def load_state_dict(self, s):
            if s: self.calls = int(s['calls'])
'''




def _read(out):
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    for r in rows: r.pop('seconds')
    res = json.loads((out / 'result.json').read_text())
    return rows, {k: v for k, v in res.items() if k.startswith('test_')}


def test_resume_calls_a_stateful_schedule_once_per_epoch_and_restore_keeps_its_saved_state(tmp_path, monkeypatch, registries):
    "A plugin whose on_epoch counts in its state_dict: the resumed run is the uninterrupted one (metrics, test metrics, the state each step sees), and `_restore` (load_run's path) gives the state the trainer had at the checkpoint."
    (tmp_path / 'plug.py').write_text(PLUGIN)
    cfg = TrainConfig(model='sbn_mlp:width=16', estimator='counting_st_t2', plugins=str(tmp_path / 'plug.py'), epochs=4, optimizer='sgd', lr=0.05,
                      n_train=128, val=32, n_test=64, eval_samples=2, batch_size=32, seed=3)
    seen, orig = [], T._step
    def step(model, est, *a):
        seen.append(est.calls); return orig(model, est, *a)
    monkeypatch.setattr(T, '_step', step)
    train(cfg, tmp_path / 'full', progress=False)
    full_seen = list(seen); seen.clear()
    def cb(ep, row):
        if ep == 2: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'cut', callbacks=[cb], progress=False)
    ck = T.load_checkpoint(tmp_path / 'cut' / 'last.pt')
    assert int(ck['estimator']['calls']) == 2   # the trainer's state after epoch 2: on_epoch at the start of epochs 0 and 1
    model, est = T.build(cfg, T.smoke_data(cfg))
    T._restore(cfg, model, est, ck, 'last.pt')
    assert est.calls == 2   # as saved, not one replayed step on
    seen.clear()
    train(cfg, tmp_path / 'cut', resume=True, progress=False)
    assert seen == full_seen[len(full_seen) // 2:] == [3] * 4 + [4] * 4
    assert _read(tmp_path / 'cut') == _read(tmp_path / 'full')


def test_comparison_table_reports_seconds_per_epoch_as_mean_and_std():
    "s / epoch as mean ± std over the seeds (2 and 1 significant digits): a fast estimator is not 0.0, a slow one has no exponent."
    from sbn_estimators.lr_search import comparison_table
    row = dict(method='st', lr=0.01, test_acc=0.5, test_ens_acc=0.5, test_det_acc=0.5)
    assert comparison_table([dict(row, seconds_per_epoch=s) for s in (0.0123, 0.0131, 0.0127)]).endswith('| 0.013 ± 0.0004 |')
    assert comparison_table([dict(row, seconds_per_epoch=s) for s in (118., 122., 126.)]).endswith('| 120 ± 4 |')
    assert comparison_table([dict(row, seconds_per_epoch=2.)]).endswith('| 2.0 ± – |')   # one seed: no spread to show
    assert comparison_table([dict(row, seconds_per_epoch=s) for s in (0.04100, 0.04106)]).endswith('| 0.041 ± 0.00004 |')   # a tiny spread: no exponent either


def _small_run(tmp_path):
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=1, n_train=64, val=32, n_test=32, eval_samples=2, batch_size=32)
    train(cfg, tmp_path / 'r', progress=False)
    return tmp_path / 'r'


def test_evaluate_run_checks_device_before_loading(tmp_path, monkeypatch):
    "'gpu', 'cuda' without CUDA, None: a ValueError naming device, before the run is read."
    out = _small_run(tmp_path)
    loaded = []
    monkeypatch.setattr(T, '_load_run', lambda *a: loaded.append(a))
    bad = ['gpu', None, 'meta'] + ([] if torch.cuda.is_available() else ['cuda'])
    for d in bad:
        with pytest.raises(ValueError, match='device'): evaluate_run(out, device=d)
    assert not loaded


def test_plot_metrics_writes_to_file_objects_and_suffixless_paths(tmp_path):
    "A BytesIO gets the png savefig writes; a path without suffix gets NAME.png (as savefig names it), no suffix-less file."
    out = _small_run(tmp_path)
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    buf = io.BytesIO(); T.plot_metrics(rows, buf)
    assert buf.getvalue().startswith(b'\x89PNG')
    T.plot_metrics(rows, tmp_path / 'noext')
    assert (tmp_path / 'noext.png').read_bytes().startswith(b'\x89PNG') and not (tmp_path / 'noext').exists()
    T.plot_metrics(rows, str(tmp_path / 'c.svg'))
    assert b'<svg' in (tmp_path / 'c.svg').read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['c.svg', 'noext.png', 'r']   # no temporary file left


def test_import_binary_reads_an_export_of_a_compiled_model_by_earlier_versions():
    "Keys starting `_orig_mod.` (what export_binary of a compiled model wrote before) import into a plain and a compiled model."
    from torch import nn
    from sbn_estimators.binary_weights import BinaryWeightLinear
    from sbn_estimators.layers import export_binary, import_binary
    torch.manual_seed(0)
    make = lambda: nn.Sequential(BinaryWeightLinear(6, 4), nn.Linear(4, 3))
    net = make()
    old = {'_orig_mod.' + k: v for k, v in export_binary(net).items()}
    for target in (make(), torch.compile(make(), backend='eager')):
        got = import_binary(target, old)
        got = getattr(got, '_orig_mod', got)
        assert torch.equal(got[0].binary_weight(), net[0].binary_weight()) and torch.equal(got[1].weight, net[1].weight)


def test_load_run_names_a_wrong_out_or_checkpoint(tmp_path):
    "A missing folder, a folder that is no run, out=None: ValueError naming out; a missing checkpoint: ValueError naming checkpoint and listing the folder's."
    out = _small_run(tmp_path)
    for f in (load_run, evaluate_run):
        with pytest.raises(ValueError, match=r"^out must be a run folder .*nope'?: it does not exist"): f(tmp_path / 'nope')
        with pytest.raises(ValueError, match=r"^out must be a run folder .*got None"): f(None)
        with pytest.raises(ValueError, match=r"^out must be a run folder .*it has no config.json"): f(tmp_path)
        with pytest.raises(ValueError, match=r"^checkpoint: run folder .*r has no stage-x.pt; its checkpoints: best.pt, last.pt$"): f(out, 'stage-x.pt')
