"Review s48, fix T: `load_run` replays the estimators' schedule (as a resumed run); `export_binary`/`import_binary` unwrap `torch.compile`; a run's binary.pt named by `load_checkpoint`; BiPer's stage in `import_binary`'s error; `evaluate_run` reproduces result.json."
import dataclasses, json
from pathlib import Path
import pytest
import torch, torch.nn.functional as F
from sbn_estimators.train import TrainConfig, train, load_run, load_data
from sbn_estimators.estimators import Estimator

torch.set_num_threads(1)


def _ests(m): return [repr(e) for e in m.modules() if isinstance(e, Estimator)]


def _grads(m, x, y):
    m.train(); m.zero_grad(); torch.manual_seed(0); F.cross_entropy(m(x), y).backward()
    return [p.grad.clone() for p in m.parameters() if p.grad is not None]


@pytest.mark.parametrize('spec', ['ede', 'reste'])
def test_load_run_replays_the_estimator_schedule(tmp_path, spec):
    "EDE's t, k and ReSTE's o are set by the schedule, not held in a state_dict: the loaded model's estimators are those the trainer left after the checkpoint's epoch, and so is a training-mode gradient."
    cfg = TrainConfig(model='duo_mlp:hidden=16,steps=1', estimator=spec, est_schedule=True, epochs=3, n_train=64, val=32, n_test=32,
                      eval_samples=2, optimizer='adam', lr=0.01, batch_size=32)
    r = train(cfg, tmp_path, progress=False)
    m, _ = load_run(tmp_path, 'last.pt')
    assert _ests(m) == _ests(r['model']) and 'k=10.0' not in _ests(m)[0]
    d = load_data(cfg); X, y = d.splits['train']
    x, y = d.input(X[:16]), y[:16]
    for a, b in zip(_grads(m, x, y), _grads(r['model'], x, y)): assert torch.equal(a, b)


def test_export_and_import_unwrap_torch_compile():
    "A torch.compile'd model exports the plain model's keys (no `_orig_mod.`), and an export imports into a compiled model and a plain one alike."
    from torch import nn
    from sbn_estimators.binary_weights import BinaryWeightLinear
    from sbn_estimators.layers import export_binary, import_binary
    torch.manual_seed(0)
    make = lambda: nn.Sequential(BinaryWeightLinear(6, 4), nn.Linear(4, 3))
    net, x = make(), torch.randn(8, 6)
    ex = export_binary(torch.compile(net, backend='eager'), check_x=x)
    assert not any(k.startswith('_orig_mod.') for k in ex) and '0.weight.bits' in ex
    plain = import_binary(make(), ex)
    assert torch.equal(plain[0].binary_weight(), net[0].binary_weight()) and torch.equal(plain[1].weight, net[1].weight)
    compiled = torch.compile(make(), backend='eager')
    assert import_binary(compiled, ex) is compiled
    assert torch.equal(compiled._orig_mod[0].binary_weight(), net[0].binary_weight())


@pytest.mark.skipif(not Path('/usr/share/datasets/fashion-mnist').is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_a_runs_binary_pt_is_named_and_loads_by_the_documented_recipe(tmp_path):
    "load_run / load_checkpoint of binary.pt say what it is and name import_binary; the recipe of page 14 loads it into the run's network."
    import re
    from sbn_estimators.layers import import_binary
    from sbn_estimators.train import load_checkpoint
    cfg = TrainConfig(model='fmnist_bnn_conv:width=4', data='fashion_mnist', epochs=1, n_train=64, val=32, n_test=32, eval_samples=2, batch_size=32)
    r = train(cfg, tmp_path, progress=False, export=True)
    for load in (lambda: load_checkpoint(tmp_path / 'binary.pt'), lambda: load_run(tmp_path, 'binary.pt')):
        with pytest.raises(ValueError, match=r"binary\.pt holds ±1 weights as packed bits .*not an sbn-train checkpoint: .*" + re.escape("import_binary(load_run(folder, 'last.pt')[0]")):
            load()
    m, _ = load_run(tmp_path, 'last.pt')
    import_binary(m, torch.load(tmp_path / 'binary.pt', weights_only=True))
    for a, b in zip(m.state_dict().values(), r['model'].state_dict().values()): assert a.shape == b.shape
    x = load_data(cfg).input(load_data(cfg).splits['test'][0][:16])
    from sbn_estimators.layers import _det_outputs   # the deterministic network, as export_binary's check_x compares it
    torch.testing.assert_close(_det_outputs(m, x), _det_outputs(r['model'], x), rtol=1e-4, atol=1e-4)


def test_import_of_biper_weights_into_stage_1_names_the_transform():
    "Importing a BiPer export into a model still in stage 1 says to apply 'biper_binarize' before import_binary (not '... before export')."
    import copy
    from sbn_estimators.estimators import estimator
    from sbn_estimators.models import get_model, MODEL_TRANSFORMS
    from sbn_estimators.layers import export_binary, import_binary
    torch.manual_seed(0)
    est = estimator('approx_sign:deterministic=true')
    sine = get_model('fmnist_biper_conv:width=4', est, in_shape=(1, 28, 28))
    ex = export_binary(MODEL_TRANSFORMS['biper_binarize'](copy.deepcopy(sine), est))
    with pytest.raises(ValueError, match=r"stage 1 .*a model imports ±1 weights in stage 2 only; apply the transform 'biper_binarize' to it before import_binary") as e:
        import_binary(sine, ex)
    assert 'before export' not in str(e.value)
    import_binary(MODEL_TRANSFORMS['biper_binarize'](sine, est), ex)   # in stage 2: imported
    with pytest.raises(ValueError, match=r"binarize them \(transform 'biper_binarize'\) before export"): export_binary(get_model('fmnist_biper_conv:width=4', est, in_shape=(1, 28, 28)))


def test_plot_metrics_replaces_the_file_only_when_complete(tmp_path, monkeypatch):
    "curves.png is written atomically: a save that fails half-way leaves the earlier file (and no temporary) in the run folder."
    from matplotlib.figure import Figure
    from sbn_estimators.train import plot_metrics
    rows = [dict(stage='main', epoch=e, train_loss=1., val_loss=1., train_acc=.5, val_acc=.5, val_ens_acc=.5, val_det_acc=.5, flip_ratio='') for e in (1, 2)]
    (tmp_path / 'curves.png').write_bytes(b'earlier')
    def broken(self, fname, **kw):
        open(fname, 'wb').write(b'half'); raise OSError('disk full')
    monkeypatch.setattr(Figure, 'savefig', broken)
    with pytest.raises(OSError): plot_metrics(rows, tmp_path / 'curves.png')
    assert (tmp_path / 'curves.png').read_bytes() == b'earlier' and sorted(p.name for p in tmp_path.iterdir()) == ['curves.png']
    monkeypatch.undo()
    plot_metrics(rows, tmp_path / 'curves.png')
    assert (tmp_path / 'curves.png').read_bytes()[:4] == b'\x89PNG'


def test_evaluate_run_reproduces_result_json_and_metrics_csv(tmp_path):
    "evaluate_run draws from the run's evaluation stream: result.json's test metrics (last.pt), the validation row of best.pt's epoch, bit for bit on the CPU."
    from sbn_estimators.train import evaluate_run, load_checkpoint
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=3, n_train=256, val=64, n_test=128, eval_samples=3, seed=5)
    train(cfg, tmp_path, progress=False)
    saved = json.loads((tmp_path / 'result.json').read_text())
    got = evaluate_run(tmp_path)
    assert got == {k: saved[k] for k in got} and len(got) == 5
    ck = load_checkpoint(tmp_path / 'best.pt'); row = ck['metrics'][ck['epoch'] - 1]
    got = evaluate_run(tmp_path, 'best.pt', 'val')
    assert got == {k: row[k] for k in got}
    torch.manual_seed(0); a = torch.rand(3); torch.manual_seed(0); evaluate_run(tmp_path); assert torch.equal(torch.rand(3), a)   # the random state as it was
    with pytest.raises(ValueError, match=r"split must be 'train', 'val' or 'test', got 'dev'"): evaluate_run(tmp_path, split='dev')
