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
