"Review s61 (lead): an atomic write's error message names only the user's file; a torch.compile'd SBN with a hook on the model itself is accepted as the plain model is."
import os
import pytest, torch
from sbn_estimators import estimator
from sbn_estimators.cli import save_json
from sbn_estimators.core import check_sbn_model
from sbn_estimators.sbn import SBNMLP

torch.set_num_threads(1)


@pytest.mark.parametrize('where', ['missing_folder', 'folder', 'disk_full'])
def test_an_atomic_write_error_names_only_the_file(tmp_path, monkeypatch, where):
    path = tmp_path / 'out.json'
    if where == 'missing_folder': path = tmp_path / 'nope' / 'out.json'
    if where == 'folder': path.mkdir()
    if where == 'disk_full': monkeypatch.setattr(os, 'fsync', lambda fd: (_ for _ in ()).throw(OSError(28, 'No space left on device')))
    with pytest.raises(OSError) as e: save_json(path, {'a': 1})
    assert str(e.value).endswith(f": '{path}'"), str(e.value)   # was "... -> None"
    assert not [p for p in path.parent.iterdir() if p.name.endswith('.tmp')] if path.parent.exists() else True


def test_a_compiled_sbn_with_a_hook_on_the_model_itself_is_accepted():
    net = SBNMLP([4, 3, 2, 1])
    net.register_forward_hook(lambda m, i, o: None)   # on the model: its forward runs, so the hook does
    compiled = torch.compile(net)                      # lazy: nothing compiles until called
    for n in (net, compiled): assert check_sbn_model(n, 'arm') is n   # compiled was refused: "layer '_orig_mod' ... would never run"
    net.layers[0].register_forward_hook(lambda m, i, o: None)
    with pytest.raises(ValueError, match=r"layer 'layers\.0' \(Linear\) of the SBN model SBNMLP carries module hooks"):
        check_sbn_model(compiled, 'arm')


def test_psa_compiler_probe_is_not_fooled_by_a_warnings_filter():
    "torch.compile warns (a DeprecationWarning of torch.jit); with the caller's filters raising it, the probe said the compiler is broken and cached that."
    import subprocess, sys
    from pathlib import Path
    code = ("import warnings; warnings.filterwarnings('error', category=DeprecationWarning)\n"
            "from sbn_estimators.psa import compiler_works; print(compiler_works('cpu'))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, 'PYTHONPATH': str(root), 'OMP_NUM_THREADS': '1'})
    assert out.returncode == 0 and out.stdout.strip() == 'True', (out.stdout, out.stderr[-2000:])


def test_a_layered_model_is_built_in_its_registered_float32_whatever_the_default_dtype():
    "Under torch.set_default_dtype(float64) a layered model came out float64 while its entry (and a run's config.json) said float32."
    from sbn_estimators.models import get_model
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        built = {n: {p.dtype for p in get_model(n, 'st', in_shape=s).parameters()}
                 for n, s in (('fmnist_bnn_conv', (1, 28, 28)), ('duo_mlp', (64,)))}
        assert torch.get_default_dtype() == torch.float64   # the caller's default back
        asked = {p.dtype for p in get_model('duo_mlp:dtype=float64', None, in_shape=(64,)).parameters()}
    finally: torch.set_default_dtype(old)
    assert built == {'fmnist_bnn_conv': {torch.float32}, 'duo_mlp': {torch.float32}} and asked == {torch.float64}


def _gradient_takers():
    from sbn_estimators.estimators import draw_estimates, draw_input_estimates
    from sbn_estimators.gradeval import gradient_report
    from sbn_estimators.sbn import cos_data, init_sbn_
    X, Y = cos_data(20, seed=0)
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    return {'draw_estimates': lambda: draw_estimates(net, X, Y, estimator('st'), 4)['layer-1'],
            'draw_input_estimates': lambda: draw_input_estimates(net, X, Y, estimator('st'), 2),
            'gradient_report': lambda: torch.tensor(gradient_report(net, X, Y, 'st', samples=4, chunk=2, progress=False)['estimators']['st']['curves']['layer-1']['rel_rmse'])}

@pytest.mark.parametrize('name', ['draw_estimates', 'draw_input_estimates', 'gradient_report'])
def test_gradient_takers_work_inside_no_grad_and_refuse_inference_mode(name):
    "Called inside torch.no_grad() they failed with autograd's bare 'element 0 of tensors does not require grad'."
    f = _gradient_takers()[name]
    torch.manual_seed(0); plain = f()
    with torch.no_grad(): torch.manual_seed(0); quiet = f()
    assert torch.equal(plain, quiet)
    with torch.inference_mode(), pytest.raises(ValueError, match=rf"{name} takes gradients, which torch.inference_mode\(\) rules out"): f()


def test_seeded_cpu_draws_ignore_the_default_device():
    "Under torch.set_default_device('meta') train_val_split drew meta indices, and get_data's labels came out as garbage."
    from sbn_estimators.data import train_val_split, get_data
    want = train_val_split(10, 0.2, seed=0)
    labels = get_data('digits', seed=0).splits['train'][1][:20]
    torch.set_default_device('meta')
    try:
        got = train_val_split(10, 0.2, seed=0)
        meta_labels = get_data('digits', seed=0).splits['train'][1][:20]
    finally: torch.set_default_device(None)
    assert all(torch.equal(a, b) for a, b in zip(want, got)) and torch.equal(labels, meta_labels)


def test_train_works_inside_no_grad_and_refuses_inference_mode():
    from sbn_estimators.train import TrainConfig, train
    cfg = TrainConfig(data='digits', estimator='st', epochs=1, n_train=128, n_test=100)
    metrics = lambda r: {k: v for k, v in r.items() if k.startswith('test_')}
    plain = train(cfg, progress=False)
    with torch.no_grad(): quiet = train(cfg, progress=False)   # was autograd's bare 'element 0 of tensors does not require grad'
    assert metrics(plain) == metrics(quiet)
    with torch.inference_mode(), pytest.raises(ValueError, match=r"train takes gradients"): train(cfg, progress=False)


def test_smoke_data_is_drawn_on_the_cpu_whatever_the_default_device(tmp_path):
    from sbn_estimators.train import TrainConfig, smoke_data
    cfg = TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), batch_size=8)
    plain = smoke_data(cfg).splits
    torch.set_default_device('meta')
    try: meta = smoke_data(cfg).splits
    finally: torch.set_default_device(None)
    assert all(torch.equal(a, b) for k in plain for a, b in zip(plain[k], meta[k]))


def test_cos_data_is_drawn_on_the_cpu_whatever_the_default_device():
    "Under torch.set_default_device('meta') cos_data failed inside torch (nonzero() on meta tensors)."
    from sbn_estimators.sbn import cos_data
    plain = cos_data(10, seed=3)
    torch.set_default_device('meta')
    try: meta = cos_data(10, seed=3)
    finally: torch.set_default_device(None)
    assert all(t.device.type == 'cpu' for t in meta) and all(torch.equal(a, b) for a, b in zip(plain, meta))


@pytest.mark.parametrize('conv', [False, True])
def test_the_sbn_forward_refuses_a_pruned_layer_when_it_samples(conv):
    "Review s61 Q1: net(x, est), the documented step of a local estimator, ran on a stale pruning mask and crashed on the second step."
    from torch.nn.utils import prune
    from sbn_estimators.sbn_conv import SBNConvNet
    net = SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 2) if conv else SBNMLP([2, 5, 1])
    x = torch.randn(4, 1, 4, 4) if conv else torch.randn(4, 2, dtype=torch.float64)
    prune.l1_unstructured(net.layers[0], 'weight', amount=0.5)
    for act in (estimator('st'), None):
        with pytest.raises(ValueError, match=r"layer 'layers\.0' .* carries module hooks"): net(x, act)
    assert net(x, torch.sign).shape[0] == 4   # a function of one's own is taken as it is (model_summary's, the data-dependent init's)
