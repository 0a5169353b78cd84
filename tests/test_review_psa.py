"""PSA/DST review: `psa_loss` and `psa_expectation` take `linearise` as a bool only (a string or number would pick
DST or PSA by its truth) and `psa_loss` checks its flip-sum backend even where DST does not use it."""
import pytest
import torch
from sbn_estimators.psa import psa_loss, psa_expectation
from sbn_estimators.exact import exact_loss
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_


def problem():
    torch.manual_seed(0)
    X, Y = cos_data(8)
    return init_sbn_(SBNMLP([2, 3, 3, 1]), X, seed=0), X, Y


@pytest.mark.parametrize('bad', ['no', 'yes', 1, 0, None, torch.tensor(True)])
def test_psa_loss_refuses_a_non_bool_linearise(bad):
    net, X, Y = problem()
    with pytest.raises(ValueError, match=r"linearise must be True \(DST, the linearised recursion\) or False \(PSA\), got "):
        psa_loss(net, X, Y, linearise=bad)


@pytest.mark.parametrize('bad', ['no', 1, 0, None])
def test_psa_expectation_refuses_a_non_bool_linearise(bad):
    net, X, Y = problem()
    with pytest.raises(ValueError, match=r"linearise must be True \(DST, the linearised recursion\) or False \(PSA\), got "):
        psa_expectation(net, X, Y, linearise=bad)


@pytest.mark.parametrize('linearise', [True, False])
def test_psa_loss_checks_its_backend_with_and_without_linearise(linearise):
    "'fast' is no backend: refused whether or not the flip sums run (DST has none, so it was accepted there)."
    net, X, Y = problem()
    with pytest.raises(ValueError, match=r"PSA backend must be one of auto, eager, compiled, got 'fast'"):
        psa_loss(net, X, Y, linearise=linearise, backend='fast')


def test_psa_loss_backend_env_checked_with_linearise(monkeypatch):
    net, X, Y = problem()
    monkeypatch.setenv('PSA_BACKEND', 'fast')
    with pytest.raises(ValueError, match=r"got 'fast' \(from the PSA_BACKEND environment variable\)"):
        psa_loss(net, X, Y, linearise=True)


def test_valid_arguments_still_work():
    "DST ignores a valid backend: the same values and gradients with each; psa_expectation's value is the exact loss either way."
    net, X, Y = problem()
    st = [torch.randint(0, 2, (len(X), n), generator=torch.Generator().manual_seed(k)).double() * 2 - 1
          for k, n in enumerate(net.binary_sizes)]
    out = {}
    for b in (None, 'auto', 'eager', 'compiled'):
        net.zero_grad(); v = psa_loss(net, X, Y, states=st, linearise=True, backend=b); v.sum().backward()
        out[b] = (v.detach(), [p.grad.clone() for p in net.parameters()])
    for v, g in (out[b] for b in ('auto', 'eager', 'compiled')):
        torch.testing.assert_close(v, out[None][0], rtol=0, atol=0)
        for a, b in zip(g, out[None][1]): torch.testing.assert_close(a, b, rtol=0, atol=0)
    with torch.no_grad():
        L = exact_loss(net, X, Y)
        for lin in (True, False): torch.testing.assert_close(psa_expectation(net, X, Y, linearise=lin), L, rtol=1e-12, atol=0)
