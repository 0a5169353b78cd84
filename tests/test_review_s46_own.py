"Session 46, own fixes: SBNConvNet checks its device as SBNMLP does."
import pytest, torch
from sbn_estimators.sbn_conv import SBNConvNet


@pytest.mark.parametrize('device, msg', [('gpu', "device: 'gpu' is not a device (cpu, cuda, cuda:N)"),
                                         (1.5, "device: 1.5 is not a device (cpu, cuda, cuda:N)")])
def test_sbn_conv_net_names_a_bad_device(device, msg):
    with pytest.raises(ValueError) as e: SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 3, device=device)
    assert str(e.value) == msg


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is here')
def test_sbn_conv_net_names_missing_cuda():
    with pytest.raises(ValueError, match="device: 'cuda' asked for but CUDA is not available"): SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 3, device='cuda')


def test_estimator_params_names_what_it_takes():
    from sbn_estimators.estimators import estimator_params
    for bad in (None, 3, ['st']):
        with pytest.raises(ValueError) as e: estimator_params(bad)
        assert str(e.value) == f"estimator_params takes a registry name like 'st' (list_estimators() gives them), got {bad!r}"


@pytest.mark.parametrize('noise', ['logistic', 'normal', 'triangular'])
def test_mean_field_is_twice_differentiable(noise):
    "The float32-accurate backward (review s46 G3) kept a differentiable derivative: gradgradcheck in float64 away from kinks."
    from sbn_estimators.estimators import estimator
    a = torch.tensor([0.3, -0.7, 0.05, 0.6], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(estimator('mean_field', noise=noise), (a,))


def test_no_control_characters_in_notebook_sources():
    "A formula written through a non-raw Python string turns \\text, \\bmod, \\rfloor, \\ne into TAB, BS, CR, LF + letters (review s46: page 14)."
    import json
    from conftest import ROOT
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            bad = sorted({hex(ord(ch)) for ch in ''.join(c['source']) if ord(ch) < 32 and ch != '\n'})
            assert not bad, f"{nb.name} cell {c.get('id')}: control characters {bad}"


def test_devices_this_build_lacks_are_named():
    "Review s46 H: check_device passed every device type torch knows, so 'xpu' or 'mps' failed deep inside torch (AssertionError, NotImplementedError)."
    from sbn_estimators.core import check_device
    from sbn_estimators.sbn import SBNMLP
    for d in ('xpu', 'mps', 'hpu'):
        if d != 'hpu' and getattr(torch, d).is_available(): continue
        with pytest.raises(ValueError, match=f"device: '{d}' asked for but this PyTorch has no {d} device available"): SBNMLP([2, 3, 1], device=d)
    assert check_device('meta').type == 'meta'


def test_evaluate_names_a_device_it_cannot_evaluate_on():
    from sbn_estimators.train import TrainConfig, train, load_data, evaluate
    cfg = TrainConfig(epochs=1, n_train=64, val=32, n_test=64, model='sbn_mlp:width=8')
    model = train(cfg, progress=False)['model']
    with pytest.raises(ValueError, match="device: 'meta' is not supported; valid: cpu, cuda"): evaluate(model, load_data(cfg), 'test', 2, device='meta')


def test_mean_field_keeps_the_sign_of_zero():
    from sbn_estimators.estimators import estimator
    from sbn_estimators.core import NOISES
    a = torch.tensor([-0., 0., -1e-30, 3.], requires_grad=True)
    for noise in NOISES:
        y = estimator('mean_field', noise=noise)(a).detach()
        assert torch.equal(y, NOISES[noise].mean(a.detach())) and torch.equal(y.signbit(), NOISES[noise].mean(a.detach()).signbit()), noise


@pytest.mark.parametrize('closed', ['>&-', '2>&-'])
def test_a_closed_standard_stream_is_not_a_crash(tmp_path, closed):
    "Review s46 H: with stderr closed, sbn-train's first epoch line raised AttributeError (sys.stderr is None) and the run ended with exit 1, no result.json."
    import shlex, subprocess, sys
    from conftest import ROOT
    cmd = shlex.join([sys.executable, '-m', 'sbn_estimators.train', '--epochs', '1', '--model', 'sbn_mlp:width=8', '--eval-samples', '1',
                      '--n-train', '64', '--val', '32', '--n-test', '64', '--threads', '1', '--out', 'run'])
    r = subprocess.run(['bash', '-c', f'{cmd} {closed}'], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**__import__('os').environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0 and (tmp_path / 'run' / 'result.json').is_file(), (r.returncode, r.stdout[-2000:], r.stderr[-2000:])


def test_input_paths_expand_the_home_folder(tmp_path, monkeypatch):
    "Review s46 H: output paths expanded '~', input files (--config, sbn-gradeval's network file) did not."
    from sbn_estimators import cli
    from sbn_estimators.train import TrainConfig
    monkeypatch.setenv('HOME', str(tmp_path))
    (tmp_path / 'c.json').write_text('{"epochs": 3}', encoding='utf-8')
    assert cli.load_config('~/c.json', TrainConfig)['epochs'] == 3
