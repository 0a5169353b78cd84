"""Argument validation of the core, the SBN MLP and exact enumeration: every bad input is a ValueError that names the
argument, what it got and what is valid (moved here from the pages so that they read derivation, code, evidence)."""
import copy, math
from pathlib import Path
import numpy as np
import pytest
import torch
from sbn_estimators.core import *
from sbn_estimators.sbn import *
from sbn_estimators.exact import *


def fails(f, *contains):
    with pytest.raises(ValueError) as e: f()
    for c in contains: assert c in str(e.value), (c, str(e.value))
    return str(e.value)


def test_names():
    fails(lambda: get_noise('gumbel'), "unknown noise 'gumbel'; valid noises: logistic, normal, uniform, triangular")
    fails(lambda: get_loss('hinge'), "unknown loss 'hinge'; valid losses: logistic, cross_entropy")
    fails(lambda: check_finite(torch.tensor([0., float('nan')]), 'x'), "x has 1 non-finite value")


X = torch.randn(16, 2, dtype=torch.float64)


def test_check_inputs():
    fails(lambda: check_inputs(X.numpy(), (2,)), "x: inputs must be a torch.Tensor of shape [B, 2], got ndarray")
    fails(lambda: check_inputs(X.T, (2,)), "x: inputs must have shape [B, 2], got [2, 16]; it looks transposed: pass x.T")
    fails(lambda: check_inputs(X[:, :1], (2,)), "x: inputs must have shape [B, 2], got [16, 1]")
    fails(lambda: check_inputs(X[0], (2,)), "a single example needs its batch dimension: x[None]")
    fails(lambda: check_inputs(X[None], (2,)), "must have shape [B, 2], got [1, 16, 2]")
    img = torch.rand(4, 8, 8, 3)
    fails(lambda: check_inputs(img, (3, 8, 8)), "it looks channels-last: pass x.permute(0, 3, 1, 2)")
    fails(lambda: check_inputs(X.float(), (2,), torch.float64), "x: inputs must have the network's dtype torch.float64, got torch.float32; pass x.to(torch.float64)")
    fails(lambda: check_inputs(X.long(), (2,)), "got torch.int64")
    fails(lambda: check_inputs(X[:0], (2,)), "x: inputs are an empty batch [0, 2]; pass at least one example")
    bad = X.clone(); bad[3, 1] = float('inf'); bad[5, 0] = float('nan')
    fails(lambda: check_inputs(bad, (2,)), "x (inputs) has 2 non-finite value(s)")
    check_inputs(bad, (2,), full=False)  # forward's check reads no values
    fails(lambda: check_inputs(X, (2,), device='meta'), "x: inputs are on cpu but the network is on meta; pass x.to('meta')")
    with torch.autocast('cpu', torch.bfloat16):
        check_inputs(X.float(), (2,), torch.bfloat16)  # autocast casts what it needs
        check_inputs(X.bfloat16(), (2,), torch.float32)
        fails(lambda: check_inputs(X.float(), (2,), torch.float64), "x: inputs of dtype torch.float32 do not fit a torch.float64 network under autocast")  # it never casts float64


def test_check_targets_logistic():
    ok = torch.ones(16, 1)
    fails(lambda: check_targets(ok.numpy(), 'logistic', 1, 16), "y: targets must be a torch.Tensor [B, 1] with values in {-1, +1}, got ndarray")
    fails(lambda: check_targets(ok[:15], 'logistic', 1, 16), "y: targets must be [B, 1] with values in {-1, +1} with B = 16 (one per input row), got shape [15, 1]")
    fails(lambda: check_targets(torch.tensor(1.), 'logistic', 1, 16), "got shape []")
    fails(lambda: check_targets(ok[:, 0], 'logistic', 1, 16), "logistic targets must have shape [B, 1] (no broadcasting against the head), got [16]; pass y[:, None]")
    fails(lambda: check_targets(torch.ones(16, 2), 'logistic', 1, 16), "got [16, 2]")
    fails(lambda: check_targets(torch.ones(16, 1, 1), 'logistic', 1, 16), "got [16, 1, 1]")
    fails(lambda: check_targets(torch.zeros(16, 1), 'logistic', 1, 16), "logistic targets must be -1 or +1, got values 0; for labels in {0, 1} pass 2*y - 1")
    fails(lambda: check_targets(torch.full((16, 1), 0.5), 'logistic', 1, 16), "got values 0.5")
    fails(lambda: check_targets(ok.bool(), 'logistic', 1, 16), "float or signed integer -1/+1, got dtype torch.bool")
    fails(lambda: check_targets(ok.to(torch.uint8), 'logistic', 1, 16), "got dtype torch.uint8")
    nan = ok.clone(); nan[2] = float('nan')
    fails(lambda: check_targets(nan, 'logistic', 1, 16), "y (targets) has 1 non-finite value(s)")
    fails(lambda: check_targets(ok, 'logistic', 1, 16, device='meta'), "y: targets are on cpu but the network is on meta")
    check_targets(ok.long(), logistic_loss, 1, 16)


def test_check_targets_cross_entropy():
    y = torch.arange(16) % 3
    fails(lambda: check_targets(y.float(), 'cross_entropy', 3, 16), "y: cross-entropy targets must be integer class indices [B], got dtype torch.float32; pass y.long()")
    fails(lambda: check_targets(torch.nn.functional.one_hot(y, 3).float(), 'cross_entropy', 3, 16), "pass y.argmax(1) for one-hot rows")
    fails(lambda: check_targets(y.bool(), 'cross_entropy', 3, 16), "got dtype torch.bool")
    fails(lambda: check_targets(y[:, None], 'cross_entropy', 3, 16), "cross-entropy targets must have shape [B] = [16], got [16, 1]; pass y[:, 0]")
    fails(lambda: check_targets(y + 1, 'cross_entropy', 3, 16), "y: class indices must be in 0..2 (3 classes), got values 1, 2, 3")
    fails(lambda: check_targets(y - 1, 'cross_entropy', 3, 16), "got values -1, 0, 1")
    fails(lambda: check_targets(y[:4], cross_entropy_loss, 3, 16), "[B] of integer class indices in 0..2 with B = 16 (one per input row), got shape [4]")
    check_targets(y.to(torch.uint8), 'cross_entropy', 3, 16)


def test_check_targets_other_loss():
    mse = lambda eta, y: (eta - y).pow(2).sum(-1)
    check_targets(torch.randn(16, 3), mse, 3, 16)
    fails(lambda: check_targets(torch.randn(15, 3), mse, 3, 16), "y: targets must be one row per example with B = 16")
    fails(lambda: check_targets(torch.full((16, 3), math.inf), mse, 3, 16), "y (targets) has 48 non-finite")


def test_check_sbn_model():
    fails(lambda: check_sbn_model(torch.nn.Linear(2, 1), 'psa'),
          "estimator 'psa' needs an SBN model (SBNMLP, SBNConvNet, or any object with noise, loss, loss_name, sizes, binary_sizes, "
          "group_names, layer_params, sample_params, forward, layer, head, check_data); got Linear, missing noise, loss, loss_name, "
          "sizes, binary_sizes, group_names, layer_params, "
          "sample_params, layer, head, check_data")
    assert check_sbn_model(SBNMLP([2, 3, 1]), 'psa') is not None


def test_sbn_conv_implements_the_protocol():
    from sbn_estimators.sbn_conv import SBNConvNet
    net = SBNConvNet((1, 6, 6), [(2, 3, 1, 0)], 3, dtype=torch.float64)
    assert isinstance(net, SBNModel)
    x, y = torch.rand(5, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (5,))
    net.check_data(x, y)
    assert [tuple(W.shape) for W, _ in net.sample_params(1)] == [tuple(W.shape) for W, _ in net.layer_params()]
    fails(lambda: net.sample_params(4), "SBNConvNet takes unbatched parameters: sample_params(n) needs n = 1, got 4")
    fails(lambda: net(x.permute(0, 2, 3, 1)), "x: inputs must have shape [B, 1, 6, 6], got [5, 6, 6, 1]; it looks channels-last")
    fails(lambda: net(x[:, 0]), "x: inputs must have shape [B, 1, 6, 6], got [5, 6, 6]")
    fails(lambda: net.check_data(x, y.float()), "pass y.long()")
    fails(lambda: net.check_data(x, y + 3), "class indices must be in 0..2")
    fails(lambda: SBNConvNet((1, 6.0, 6), [(2, 3, 1, 0)], 3), "in_shape must be (C, H, W) of positive integers, got (1, 6.0, 6)")
    fails(lambda: SBNConvNet(6, [(2, 3, 1, 0)], 3), "in_shape must be (C, H, W) of positive integers, got 6")
    for n_out in (0, 3.0, True):
        fails(lambda: SBNConvNet((1, 6, 6), [(2, 3, 1, 0)], n_out), f"n_out must be a positive integer (the head's outputs), got {n_out!r}")


def test_sbn_mlp():
    net = SBNMLP([2, 5, 1])
    fails(lambda: SBNMLP([2, 1]), "at least [n_in, n_1, n_out]")
    fails(lambda: net(torch.zeros(3, 4, dtype=torch.float64)), "x: inputs must have shape [B, 2], got [3, 4]")
    fails(lambda: net(X.T), "it looks transposed: pass x.T")
    fails(lambda: net(X.float()), "pass x.to(torch.float64)")
    fails(lambda: net.check_data(torch.zeros(3, 4, dtype=torch.float64), torch.ones(3, 1)), "x: inputs must have shape [B, 2]")
    fails(lambda: net.check_data(X, torch.ones(16)), "pass y[:, None]")
    fails(lambda: net.check_data(X, torch.zeros(16, 1)), "for labels in {0, 1} pass 2*y - 1")
    fails(lambda: net.check_data(X[:0], torch.ones(0, 1)), "empty batch")
    fails(lambda: init_sbn_(SBNMLP([3, 5, 1]), X), "X: inputs must have shape [B, 3], got [16, 2]")
    ce = SBNMLP([2, 5, 4], loss='cross_entropy')
    ce.check_data(X, torch.arange(16) % 4)
    fails(lambda: ce.check_data(X, (torch.arange(16) % 4).double()), "cross-entropy targets must be integer class indices")


def test_names_of_other_types():
    fails(lambda: get_noise(['logistic']), "unknown noise ['logistic']; valid noises: logistic, normal, uniform, triangular")
    fails(lambda: get_loss(['logistic']), "unknown loss ['logistic']; valid losses: logistic, cross_entropy")
    fails(lambda: SBNMLP([2, 3, 1], noise=['logistic']), "unknown noise ['logistic']")
    fails(lambda: SBNMLP([2, 3, 1], loss={'logistic'}), "unknown loss {'logistic'}")
    for bad in (torch.int64, torch.bool, torch.complex64, 'float64', np.float64):
        fails(lambda: SBNMLP([2, 3, 1], dtype=bad), f"dtype must be a floating point torch.dtype (torch.float64, torch.float32, ...), got {bad!r}")
    assert SBNMLP([2, 3, 1], dtype=torch.float32).layers[0].weight.dtype == torch.float32


def test_cos_data_arguments():
    fails(lambda: cos_data(2.5), "n_per_class must be an integer, got 2.5")
    fails(lambda: cos_data(True), "n_per_class must be an integer, got True")
    fails(lambda: cos_data('3'), "n_per_class must be an integer, got '3'")
    fails(lambda: cos_data(0), "n_per_class must be positive, got 0")
    fails(lambda: cos_data(3, seed='a'), "seed must be an integer in 0..4294967295, got 'a'")
    fails(lambda: cos_data(3, seed=1.5), "seed must be an integer in 0..4294967295, got 1.5")
    fails(lambda: cos_data(3, dtype=torch.int64), "dtype must be a floating point torch.dtype")
    assert torch.equal(cos_data(np.int64(3), seed=np.int32(2))[0], cos_data(3, seed=2)[0])


def test_init_sbn_data():
    Xc, _ = cos_data(5)
    net = lambda: SBNMLP([2, 3, 1, 1])
    fails(lambda: init_sbn_(net(), Xc * math.nan), "X (inputs) has 20 non-finite value(s)")
    fails(lambda: init_sbn_(net(), Xc[:0]), "X: inputs are an empty batch [0, 2]")
    fails(lambda: init_sbn_(net(), Xc[:1]), "X: init_sbn_ normalises the pre-activations over the rows of X: pass at least 2 rows, got 1")
    fails(lambda: init_sbn_(net(), Xc[:1].expand(6, -1)), "X: its 6 rows give the first layer's pre-activations no spread (are all rows equal?)")
    fails(lambda: init_sbn_(net(), Xc.float()), "X: inputs must have the network's dtype torch.float64, got torch.float32; pass X.to(torch.float64)")
    fails(lambda: init_sbn_(net(), Xc.long()), "got torch.int64")
    fails(lambda: init_sbn_(net(), Xc.numpy()), "X: inputs must be a torch.Tensor")
    fails(lambda: init_sbn_(net(), Xc.T), "it looks transposed: pass X.T")
    ok = init_sbn_(net(), Xc)
    assert all(torch.isfinite(p).all() and p.abs().max() < 100 for p in ok.parameters())
    one_col = Xc.clone(); one_col[:, 1] = 2.   # a constant feature is fine while another one spreads the units
    a = linear(one_col, *init_sbn_(net(), one_col).layer_params()[0]).detach()
    torch.testing.assert_close(a.std(0, correction=0), torch.ones(3, dtype=torch.float64))


def mlp_and_params():
    Xc, Yc = cos_data(5)
    net = init_sbn_(SBNMLP([2, 3, 1, 1]), Xc)
    P = [tuple(p.detach().clone().requires_grad_() for p in pair) for pair in net.layer_params()]
    return net, Xc, Yc, P


def test_params_mlp():
    from sbn_estimators.estimators import estimator
    net, Xc, Yc, P = mlp_and_params()
    assert torch.equal(exact_loss(net, Xc, Yc, params=P), exact_loss(net, Xc, Yc))
    P2, net2 = [tuple((1.5 * p).detach().requires_grad_() for p in pair) for pair in P], copy.deepcopy(net)
    with torch.no_grad():
        for p in net2.parameters(): p.mul_(1.5)
    assert torch.equal(exact_loss(net, Xc, Yc, params=P2), exact_loss(net2, Xc, Yc))   # the params are used, not the net's own
    assert not torch.equal(exact_loss(net, Xc, Yc, params=P2), exact_loss(net, Xc, Yc))
    bad_bias = [(P[0][0], P[0][1][:1].detach().requires_grad_()), *P[1:]]
    fails(lambda: exact_loss(net, Xc, Yc, params=bad_bias), "params[0][1] (b of layer 0): expected shape [3] (one set of parameters here, no copies), got [1]")
    fails(lambda: exact_loss(net, Xc, Yc, params=[(P[0][0].T, P[0][1]), *P[1:]]), "params[0][0] (W of layer 0): expected shape [3, 2] (one set of parameters here, no copies), got [2, 3]")
    fails(lambda: exact_loss(net, Xc, Yc, params=P[:2]), "params: expected 3 (W, b) pairs, one per layer, of shapes ([3, 2], [3]), ([1, 3], [1]), ([1, 1], [1]); got 2 item(s)")
    fails(lambda: exact_loss(net, Xc, Yc, params=[P[0][0], *P[1:]]), "params: expected 3 (W, b) pairs")
    fails(lambda: exact_loss(net, Xc, Yc, params=[tuple(p.float() for p in pair) for pair in P]), "params[0][0] (W of layer 0): expected the model's torch.float64 on cpu, got torch.float32 on cpu")
    for name in ('st', 'psa', 'reinforce', 'mean_field', 'exact'):
        est = estimator(name)
        fails(lambda: est.surrogate(net, Xc, Yc, P[:2]), "params: expected 3 (W, b) pairs")
        fails(lambda: est.surrogate(net, Xc, Yc, bad_bias), "params[0][1] (b of layer 0)")
        copies = net.sample_params(3)
        mixed = [copies[0], *[(W[:2], b[:2]) for W, b in copies[1:]]]
        fails(lambda: est.surrogate(net, Xc, Yc, mixed), "params: every tensor needs the same leading dimension of copies; "
              "params[0][0] (W of layer 0) has 3 copies but params[1][0] (W of layer 1) has 2 copies (shape [2, 1, 3])")
        fails(lambda: est.surrogate(net, Xc, Yc, [(copies[0][0], P[0][1]), *copies[1:]]), "params[0][1] (b of layer 0) has no dimension of copies")
        fails(lambda: est.surrogate(net, Xc, Yc, [(W[None], b[None]) for W, b in copies]), "expected shape [3, 2], or [n, 3, 2] for n copies, got [1, 3, 3, 2]")
        if name != 'exact': est.surrogate(net, Xc, Yc, copies).backward()
        est.surrogate(net, Xc, Yc, P).backward()


def test_params_conv():
    from sbn_estimators.estimators import estimator
    from sbn_estimators.sbn_conv import SBNConvNet
    torch.manual_seed(0)
    net = SBNConvNet((1, 6, 6), [(2, 3, 1, 0), (1, 3, 1, 1)], 3)
    x, y = torch.rand(4, 1, 6, 6), torch.tensor([0, 1, 2, 0])
    P = net.sample_params(1)
    for name in ('st', 'psa', 'reinforce'):
        est = estimator(name)
        est.surrogate(net, x, y, P).backward()
        fails(lambda: est.surrogate(net, x, y, [(P[0][0], P[0][1][:1]), *P[1:]]), "params[0][1] (b of layer 0): expected shape [2] (SBNConvNet takes unbatched parameters: one set, no copies), got [1]")
        fails(lambda: est.surrogate(net, x, y, P[:2]), "params: expected 3 (W, b) pairs, one per layer, of shapes ([2, 1, 3, 3], [2]), ([1, 2, 3, 3], [1]), ([3, 16], [3]); got 2 item(s)")
        fails(lambda: est.surrogate(net, x, y, [(P[0][0][:, :, :2], P[0][1]), *P[1:]]), "params[0][0] (W of layer 0): expected shape [2, 1, 3, 3]")
        fails(lambda: est.surrogate(net, x, y, [(W[None], b[None]) for W, b in P]), "SBNConvNet takes unbatched parameters")
    fails(lambda: exact_loss(net, x, y, params=[(P[0][0].double(), P[0][1]), *P[1:]]), "params[0][0] (W of layer 0): expected the model's torch.float32 on cpu, got torch.float64")


def test_load_sbn_bad_files(tmp_path):
    X8, Y8 = torch.randn(8, 2, dtype=torch.float64), torch.ones(8, 1, dtype=torch.float64)
    d = tmp_path
    np.savez(d / 'bad.npz', X=X8.numpy(), Y=Y8.numpy(), W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((1, 4)), b1=np.zeros(1))
    fails(lambda: load_sbn(d / 'bad.npz'), "W1 reads 4 inputs but layer 0 has 5 units")
    np.savez(d / 'nan.npz', X=X8.numpy() * np.nan, Y=Y8.numpy(), W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((1, 5)), b1=np.zeros(1))
    fails(lambda: load_sbn(d / 'nan.npz'), "nan.npz: X (inputs) has 16 non-finite")
    np.savez(d / 'y01.npz', X=X8.numpy(), Y=np.zeros(8), W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((1, 5)), b1=np.zeros(1))
    fails(lambda: load_sbn(d / 'y01.npz'), "y01.npz: Y: logistic targets must be -1 or +1, got values 0; for labels in {0, 1} pass 2*Y - 1")
    (d / 'junk.npz').write_text('not a zip')
    fails(lambda: load_sbn(d / 'junk.npz'), "junk.npz is not a readable .npz network file: neither a .npz archive nor a .npy array")
    ok = dict(X=X8.numpy(), Y=Y8.numpy(), W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((5, 5)), b1=np.zeros(5))
    np.savez(d / 'gap.npz', **ok, W3=np.zeros((1, 5)), b3=np.zeros(1))   # W2, b2 missing: not a 2-5-5 network
    fails(lambda: load_sbn(d / 'gap.npz'), "gap.npz holds arrays ['W3', 'b3'] beyond X, Y, W0, b0, ..., W1, b1")
    np.savez(d / 'b2.npz', **ok, b2=np.zeros(1))
    fails(lambda: load_sbn(d / 'b2.npz'), "holds arrays ['b2'] beyond")
    np.savez(d / 'w3.npz', **ok, w2=np.zeros((1, 5)), b2=np.zeros(1))   # a misspelt W2
    fails(lambda: load_sbn(d / 'w3.npz'), "holds arrays ['b2', 'w2'] beyond")


def test_exact_refusals(monkeypatch):
    X200, Y200 = cos_data()
    fails(lambda: exact_loss(SBNMLP([2, 24, 1]), X200, Y200), "network too large to enumerate: binary layer widths [24] on 200 example(s) with gradients need about", "above the limit of")
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200, Y200, max_bytes=1000), "above the limit of 1e-06 GB (max_bytes)")
    for bad in ('1e9', -1, 0, math.nan, True, [10 ** 9]):
        fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200, Y200, max_bytes=bad),
              f"max_bytes must be a positive number of bytes (e.g. 4e9), or None for the default limit, got {bad!r}")
    with torch.no_grad(): exact_loss(SBNMLP([2, 5, 1]), X200, Y200, max_bytes=1e9)
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', '1000')
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200, Y200), "(SBN_EXACT_MAX_BYTES)")
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', '-3')
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200, Y200), "SBN_EXACT_MAX_BYTES must be a number of bytes >= 1")
    monkeypatch.delenv('SBN_EXACT_MAX_BYTES')
    with torch.no_grad(): exact_loss(SBNMLP([2, 5, 1]), X200, Y200)
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200, Y200, reduction='sum'), "reduction must be 'mean' or 'none'")
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200[:, :1], Y200), "x: inputs must have shape [B, 2]")
    fails(lambda: exact_loss(SBNMLP([2, 5, 1]), X200 * math.nan, Y200), "x (inputs) has 400 non-finite")


def test_train_val_split_val():
    "val is a real number (below 1 a fraction, a whole number a count, whatever its type; 0-d tensors too); bool and non-numbers are refused."
    from sbn_estimators.data import train_val_split
    for bad in (True, False, torch.tensor(True), '0.1', None, float('nan'), torch.tensor([0.1, 0.2])):
        fails(lambda: train_val_split(100, bad), f"val must be a fraction in [0, 1) or a whole number of examples (a count, whatever its type: 5000.0 is 5000), got {bad!r}")
    fails(lambda: train_val_split(100, np.float32(100.0)), "validation size must leave training data")


def test_cross_entropy_is_stable_for_large_logits():
    "A BNN head over ±1 inputs easily reaches |logit| > 89, where exp overflows in float32: the loss stays exact."
    import torch.nn.functional as F
    big, y = torch.tensor([[120., 0., -5.], [3., 95., 0.]]), torch.tensor([0, 1])
    torch.testing.assert_close(cross_entropy_loss(big, y), F.cross_entropy(big, y, reduction='none'))

def test_check_finite_accepts_an_empty_tensor():
    assert tuple(check_finite(torch.empty(0, 3), 'e').shape) == (0, 3)


def test_load_sbn_names_a_missing_bias(tmp_path):
    X8, Y8 = torch.randn(8, 2, dtype=torch.float64), torch.ones(8, 1, dtype=torch.float64)
    np.savez(tmp_path / 'nob2.npz', X=X8.numpy(), Y=Y8.numpy(), W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((5, 5)),
             b1=np.zeros(5), W2=np.zeros((1, 5)))   # the head's bias b2 is missing
    fails(lambda: load_sbn(tmp_path / 'nob2.npz'), "nob2.npz has W2 but no b2")


def test_sbn_mlp_refuses_an_empty_layer():
    fails(lambda: SBNMLP([2, 0, 1]), "sizes must be at least [n_in, n_1, n_out] with positive integers, got [2, 0, 1]")


def test_check_params_names_a_device_mismatch():
    net = SBNMLP([2, 3, 1])
    P = [(W.detach().to('meta') if k == 0 else W.detach(), b.detach()) for k, (W, b) in enumerate(net.layer_params())]
    fails(lambda: check_params(net, P), "params[0][0] (W of layer 0): expected the model's torch.float64 on cpu, got torch.float64 on meta")


def test_seeds_are_checked():
    "cos_data and init_sbn_ take the seeds a CPU generator tells apart, 0..2**32-1, numpy integers too."
    Xc, _ = cos_data(5)
    for bad in (2**32, 2**64, -1, None, True, '1'):
        fails(lambda: cos_data(3, seed=bad), f"seed must be an integer in 0..{2**32 - 1}, got {bad!r}")
        fails(lambda: init_sbn_(SBNMLP([2, 3, 1]), Xc, seed=bad), f"seed must be an integer in 0..{2**32 - 1}, got {bad!r}")
    assert torch.equal(cos_data(3, seed=np.uint64(2**32 - 1))[0], cos_data(3, seed=2**32 - 1)[0])
    a, b = init_sbn_(SBNMLP([2, 3, 1]), Xc, seed=np.int64(3)), init_sbn_(SBNMLP([2, 3, 1]), Xc, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_sbn_from_01_reads_an_iterator():
    W01 = [(torch.randn(4, 2), torch.randn(4)), (torch.randn(3, 4), torch.randn(3)), (torch.randn(1, 3), torch.randn(1))]
    Ws, bs = zip(*W01)
    a, b = sbn_from_01(W01), sbn_from_01(zip(Ws, bs))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_cross_entropy_needs_two_classes():
    fails(lambda: SBNMLP([2, 3, 1], loss='cross_entropy'),
          "loss='cross_entropy' needs n_out >= 2 classes (the last of sizes), got sizes [2, 3, 1]; for one output use loss='logistic'")
    fails(lambda: SBNMLP([2, 3, 1], loss=cross_entropy_loss), "needs n_out >= 2 classes")
    SBNMLP([2, 3, 2], loss='cross_entropy')


def test_save_sbn_writes_what_load_sbn_reads(tmp_path):
    Xc, Yc = cos_data(4)
    net = SBNMLP([2, 3, 1])
    fails(lambda: save_sbn(tmp_path / 'n', SBNMLP([2, 3, 1], noise='normal'), Xc, Yc),
          "net: the network format holds networks with logistic noise and the logistic loss, got noise='normal' and loss='logistic'")
    fails(lambda: save_sbn(tmp_path / 'n', SBNMLP([2, 3, 2], loss='cross_entropy'), Xc, (Yc[:, 0] > 0).long()),
          "got noise='logistic' and loss='cross_entropy'")
    fails(lambda: save_sbn(tmp_path / 'n', net, Xc, (Yc + 1) / 2), "for labels in {0, 1} pass 2*Y - 1")
    fails(lambda: save_sbn(tmp_path / 'n', net, Xc[:, :1], Yc), "X: inputs must have shape [B, 2], got [8, 1]")
    assert not list(tmp_path.iterdir())
    path = save_sbn(tmp_path / 'net', net, Xc, Yc)   # numpy's rule: .npz appended, and the path returned
    assert path == tmp_path / 'net.npz' and sorted(tmp_path.iterdir()) == [path]
    assert save_sbn(str(tmp_path / 'b.npz'), net, Xc, Yc) == tmp_path / 'b.npz'
    net2, X2, Y2 = load_sbn(path)
    assert torch.equal(X2, Xc) and torch.equal(Y2, Yc)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), net2.parameters()))


def test_load_sbn_names_the_array_and_an_overflow(tmp_path):
    X8, Y8 = np.random.default_rng(0).normal(size=(8, 2)), np.ones((8, 1))
    ok = dict(X=X8, Y=Y8, W0=np.zeros((5, 2)), b0=np.zeros(5), W1=np.zeros((1, 5)), b1=np.zeros(1))
    np.savez(tmp_path / 'w.npz', **{**ok, 'W1': np.array([[0, 0, np.inf, 0, 0]])})
    fails(lambda: load_sbn(tmp_path / 'w.npz'), "w.npz: array W1 has 1 non-finite value(s)")
    np.savez(tmp_path / 'b.npz', **{**ok, 'b0': np.array([0, np.nan, 0, 0, 0])})
    fails(lambda: load_sbn(tmp_path / 'b.npz'), "b.npz: array b0 has 1 non-finite value(s)")
    np.savez(tmp_path / 'x.npz', **{**ok, 'X': X8 * 1e300})
    load_sbn(tmp_path / 'x.npz')
    fails(lambda: load_sbn(tmp_path / 'x.npz', dtype=torch.float32), "x.npz: array X has 16 value(s) that overflow torch.float32",
          "load it with dtype=torch.float64")
    np.savez(tmp_path / 'big.npz', **{**ok, 'W0': np.full((5, 2), 1e39)})
    fails(lambda: load_sbn(tmp_path / 'big.npz', dtype=torch.float32), "big.npz: array W0 has 10 value(s) that overflow torch.float32 (up to 1e+39")
