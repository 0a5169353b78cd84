"""psa_expectation's chunks account for the head's width: a wide head takes fewer (path, example) rows per chunk, and
one example's paths are split over chunks where they do not fit, with the same result."""
import pytest, torch
from sbn_estimators import psa
from sbn_estimators.psa import psa_expectation
from sbn_estimators.sbn import SBNMLP


def _net(sizes, seed=0):
    torch.manual_seed(seed)
    net = SBNMLP(sizes, loss='cross_entropy')
    with torch.no_grad():
        for p in net.parameters(): p.normal_(0, 1)
    return net


def test_chunks_bound_the_entries_of_a_wide_head(monkeypatch):
    "With m = 256 head outputs no chunk holds more than about PSA_PATH_ROWS * PSA_PATH_OUTPUTS (row, output) entries (was: all 2^14 paths of an example times 256)."
    net = _net([4, 14, 256])
    x, y = torch.randn(1, 4, dtype=torch.float64), torch.tensor([3])
    seen, orig = [], psa._path_sums
    def spy(net, x, y, params, linearise, flat, shapes):
        seen.append(len(flat) * len(x) * net.sizes[-1]); return orig(net, x, y, params, linearise, flat, shapes)
    monkeypatch.setattr(psa, '_path_sums', spy)
    with torch.no_grad(): psa_expectation(net, x, y)
    assert seen and max(seen) <= 2 * psa.PSA_PATH_ROWS * psa.PSA_PATH_OUTPUTS, seen


@pytest.mark.parametrize('B', [1, 3])
def test_split_paths_give_the_same_value_and_gradient(monkeypatch, B):
    "An example's paths split over chunks (few rows per chunk) give the value and gradients of one chunk, up to rounding."
    net = _net([3, 4, 3, 40])
    x = torch.randn(B, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 40, (B,))
    def run(rows):
        monkeypatch.setattr(psa, 'PSA_PATH_ROWS', rows)
        for lin in (False, True):
            E = psa_expectation(net, x, y, linearise=lin)
            yield E.detach(), torch.autograd.grad(E, [x, *net.parameters()])
    for (E1, g1), (E2, g2) in zip(run(2 ** 20), run(10)):   # m = 40: 5 rows per chunk, 128 paths: 26 chunks per example
        torch.testing.assert_close(E2, E1, rtol=1e-13, atol=0)
        for a, b in zip(g2, g1): torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-15)
    monkeypatch.setattr(psa, 'PSA_PATH_ROWS', 10)
    assert psa._path_rows(net) == 5
