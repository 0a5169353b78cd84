"""Review s57, fx8: train_toy_sbn fed one random stream to the data, the initialisation and the batch order (the same
mt19937 sequence three times: the first layer's initial weights were the data's first coordinates, rescaled). It now
derives three seeds from its seed with numpy's SeedSequence."""
import math
import numpy as np
import pytest
import torch
import sbn_estimators.gradeval as G
from sbn_estimators.sbn import cos_data


def derived(seed): return [int(s) for s in np.random.SeedSequence(seed).generate_state(3)]   # data, initialisation, batch order


@pytest.mark.parametrize('seed', [0, 1, 3])
def test_initial_weights_are_not_the_datas_draws(seed):
    "The repro: with one stream, W[:, 0] / W[:, 1] equalled the ratios of 2 X[:10, 0] / pi."
    net, X, Y = G.train_toy_sbn(epochs=0, seed=seed)
    W = net.layers[0].weight.detach()
    r = (2 * X[:10, 0] / math.pi).view(5, 2)
    assert not torch.allclose(W[:, 0] / W[:, 1], r[:, 0] / r[:, 1])
    assert not torch.allclose(W.flatten(), 2 * X[:10, 0] / math.pi)


def test_same_seed_same_network_other_seed_another():
    a, b, c = (G.train_toy_sbn(epochs=1, seed=s) for s in (5, 5, 6))
    assert all(torch.equal(p, q) for p, q in zip(a[0].parameters(), b[0].parameters()))
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert not torch.equal(a[1], c[1])
    assert not any(torch.equal(p, q) for p, q in zip(a[0].parameters(), c[0].parameters()))


@pytest.mark.parametrize('seed', [0, 3, 2**32 - 1])
def test_three_distinct_streams(seed, monkeypatch):
    "cos_data, init_sbn_ and the batch order's generator get three different seeds, as SeedSequence(seed) derives them."
    seen = {}
    real_data, real_init, real_perm = G.cos_data, G.init_sbn_, torch.randperm
    monkeypatch.setattr(G, 'cos_data', lambda *a, **kw: (seen.__setitem__('data', kw['seed']), real_data(*a, **kw))[1])
    monkeypatch.setattr(G, 'init_sbn_', lambda net, X, seed=0, **kw: (seen.__setitem__('init', seed), real_init(net, X, seed=seed, **kw))[1])
    monkeypatch.setattr(torch, 'randperm', lambda n, generator=None, **kw: (seen.setdefault('order', generator.initial_seed()), real_perm(n, generator=generator, **kw))[1])
    G.train_toy_sbn(epochs=1, seed=seed)
    got = [seen['data'], seen['init'], seen['order']]
    assert got == derived(seed) and len(set(got)) == 3
    assert all(0 <= s < 2**32 for s in got)
    # the streams themselves differ: the data's first uniforms are not the weights' nor the batch order's
    draws = [torch.rand(8, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in got]
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2]) and not torch.equal(draws[1], draws[2])


def test_derived_seeds_distinct_over_many_seeds():
    "No seed of 0..999 gives two of its streams one seed, nor its own seed (gradient_report's stream at that seed)."
    for s in range(1000):
        d = derived(s)
        assert len(set(d)) == 3 and s not in d, s


def test_data_is_cos_data_of_the_data_seed():
    net, X, Y = G.train_toy_sbn(epochs=0, seed=2)
    X2, Y2 = cos_data(seed=derived(2)[0])
    assert torch.equal(X, X2) and torch.equal(Y, Y2)
    assert not torch.equal(X, cos_data(seed=2)[0])
