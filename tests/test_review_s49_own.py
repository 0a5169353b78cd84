"Review s49 (own): `init_sbn_` initialises a `torch.compile`d SBNMLP (the model it wraps), as `save_sbn`, `psa_ops`, `export_binary` and `import_binary` accept one; one unwrap (`core._uncompiled`) for all five."
import torch
from sbn_estimators import core, layers, psa, sbn
from sbn_estimators.sbn import SBNMLP, init_sbn_

torch.set_num_threads(1)


def test_init_sbn_takes_a_compiled_network():
    X = torch.randn(8, 2, dtype=torch.float64)
    net, ref = SBNMLP([2, 4, 1]), SBNMLP([2, 4, 1])
    assert init_sbn_(torch.compile(net), X, seed=3) is net   # no compile happens: init_sbn_ works on the wrapped module
    init_sbn_(ref, X, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ref.parameters()))


def test_one_unwrap():
    net = SBNMLP([2, 3, 1])
    assert core._uncompiled(torch.compile(net)) is net and core._uncompiled(net) is net
    assert sbn._uncompiled is psa._uncompiled is layers._uncompiled is core._uncompiled


def test_adf_scaled_variance_counts_the_fan_in():
    "Weights below float32's scaling threshold whose squares still sum past float32 at fan-in 2^21: the moments of float64 (they were 0 and 1)."
    from sbn_estimators.adf import adf_moments
    got = {}
    for dt in (torch.float64, torch.float32):
        net = SBNMLP([2, 2 ** 21, 1, 1], dtype=dt)
        with torch.no_grad():
            net.layers[0].weight.zero_(); net.layers[0].bias.zero_()
            net.layers[1].weight.fill_(1.6e16); net.layers[1].bias.fill_(1e30)   # 2^21 (1.6e16)^2 = 5.4e38 > float32's 3.4e38
            net.layers[2].weight.fill_(1.); net.layers[2].bias.zero_()
        got[dt] = [t.item() for t in adf_moments(net, torch.zeros(1, 2, dtype=dt))]
    assert got[torch.float64] == [1.0, 0.0] and got[torch.float32] == got[torch.float64], got


def _slope0(e): return e.slope(torch.zeros(1, dtype=torch.float64)).item()


def test_copies_of_scheduled_estimators_have_their_own_schedule():
    "copy.copy shared the 0-d tensors the forward reads: setting the copy's t (o) changed the original's slope, not its t."
    import copy
    from sbn_estimators.ede import EDE, RBNN
    from sbn_estimators.reste import ReSTE
    for cls in (EDE, RBNN):
        e = cls(); e.set_t(1.0); want = _slope0(e)
        c = copy.copy(e); c.set_t(5.0)
        assert e.t == 1.0 and _slope0(e) == want and _slope0(c) != want, cls
    r = ReSTE(); c = copy.copy(r); c.o = 1.5
    assert r.o == 3.0 and r._o_t.item() == 3.0 and c._o_t.item() == 1.5


def test_ede_rbnn_pickled_before_the_constants_load():
    "An EDE/RBNN pickled with t and k as plain attributes (before s49) unpickles with its t, k and slope."
    from sbn_estimators.ede import EDE, RBNN
    for cls in (EDE, RBNN):
        e = cls(); e.set_t(0.5); want = _slope0(e)
        old = {n: v for n, v in e.__dict__.items() if not n.startswith('_c_') and n not in ('_t', '_k', '_overflows')}
        old.update(t=0.5, k=2.0)   # the earlier layout
        o = cls.__new__(cls); o.__setstate__(old)
        assert (o.t, o.k) == (0.5, 2.0) and _slope0(o) == want and 't' not in o.__dict__, cls


def test_adf_saturated_units_at_huge_scaled_weights_keep_finite_gradients():
    "Weights of 1e30 in float32 (k > 42): the scaled form's derivative 8^k overflowed and times 0 at saturated units gave NaN."
    from sbn_estimators.adf import Adf
    torch.manual_seed(0)
    net = SBNMLP([64, 300, 200, 1]).float()
    with torch.no_grad():
        for p in net.parameters(): p.mul_(1e30)
    x = torch.randn(8, 64); y = torch.randint(0, 2, (8, 1)).float() * 2 - 1
    torch.manual_seed(1)
    Adf().surrogate(net, x, y).backward()
    assert all(p.grad.isfinite().all() for p in net.parameters()), [p.grad.isnan().sum().item() for p in net.parameters()]


def test_reste_pickled_before_its_tensor_loads():
    "A ReSTE pickled with o and m as plain attributes (the layout before o's tensor) unpickles with its o, m and slope."
    from sbn_estimators.reste import ReSTE
    r = ReSTE(o=2.0, m=0.2); want = _slope0(r)
    old = {n: v for n, v in r.__dict__.items() if n not in ('_o', '_m', '_o_t', '_overflows')}
    old.update(o=2.0, m=0.2)
    o = ReSTE.__new__(ReSTE); o.__setstate__(old)
    assert (o.o, o.m) == (2.0, 0.2) and _slope0(o) == want and 'o' not in o.__dict__


def test_load_results_merges_one_network_recorded_at_two_paths(tmp_path):
    "sbn-gradeval records the network's resolved path: the stored report's bare name and another machine's path are one network."
    import json, shutil
    from pathlib import Path
    from sbn_estimators.catalogue import load_results
    src = Path(__file__).parent.parent / 'nbs' / 'data' / 'gradeval_chk100.json'
    shutil.copy(src, tmp_path / 'gradeval_chk100.json')
    r = json.loads(src.read_text())
    r['network'] = '/home/u/nets/' + Path(r['network']).name
    (tmp_path / 'gradeval_chk100_new.json').write_text(json.dumps(r))
    drop = lambda rows: {k: {f: v for f, v in row.items() if f != 'file'} for k, row in rows.items()}   # the file a row came from
    assert drop(load_results(tmp_path)) == drop(load_results(tmp_path, 'gradeval_chk100.json'))
    r['network'] = '/home/u/nets/other.npz'
    (tmp_path / 'gradeval_chk100_new.json').write_text(json.dumps(r))
    try: load_results(tmp_path); raise AssertionError('merged two networks')
    except ValueError as e: assert 'differ in network' in str(e)
