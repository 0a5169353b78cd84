"Review s49 (H): proxies independent of import order; core's value checks skipped under torch.compile; trainer turns MirrorDescent's check_grads off."
import os, subprocess, sys, textwrap
import pytest, torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def _fresh(code):
    "Run `code` in a fresh interpreter (nothing of the library imported before); its stdout."
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

@pytest.mark.parametrize('name', ['ede', 'rbnn', 'reste'])
def test_proxy_first_use_in_fresh_process(name):
    "proxy_estimator, Quantize(1, proxy) and decouple(proxy=) accept 'ede', 'rbnn', 'reste' as the first thing done, not only after their modules were loaded."
    out = _fresh(f"""
        import torch; torch.set_num_threads(1)
        from sbn_estimators.mismatch import proxy_estimator
        e = proxy_estimator({name!r}, check_forward=False)
        print(type(e).__name__, getattr(e, 'deterministic', None))
    """)
    assert out.split()[-1] in ('True', 'None'), out
    out = _fresh(f"""
        import torch; torch.set_num_threads(1)
        from sbn_estimators.binaryduo import Quantize
        print(Quantize(1, {name!r}))
    """)
    assert 'proxy=' in out, out
    out = _fresh(f"""
        import torch; torch.set_num_threads(1)
        from sbn_estimators.binaryduo import QuantMLP, decouple
        d = decouple(QuantMLP([4, 6, 2]), proxy={name!r})
        print(d)
    """)
    assert 'proxy=' in out, out

def test_logistic_loss_traces_whole():
    "logistic_loss compiles to one graph (promote_types, not result_type, which dynamo cannot trace), bit for bit as eager."
    from sbn_estimators.core import logistic_loss
    import torch._dynamo as dynamo
    for dt in (torch.float32, torch.float64):
        g = torch.Generator().manual_seed(0)
        eta = torch.randn(3, 8, 2, generator=g, dtype=dt) * 30
        y = torch.randint(0, 2, (8, 2), generator=g).to(dt) * 2 - 1
        dynamo.reset()
        got = torch.compile(logistic_loss, backend='eager', fullgraph=True)(eta, y)
        assert torch.equal(got, logistic_loss(eta, y))
    dynamo.reset()

def test_compiled_surrogate_has_no_graph_breaks():
    "A torch.compile'd surrogate of 'st' on an SBN is one graph: core's value checks (host reads, a ContextVar) are skipped while tracing."
    import torch._dynamo as dynamo
    from torch._dynamo.utils import counters
    import sbn_estimators
    from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
    X, Y = cos_data(seed=0)
    net, est = init_sbn_(SBNMLP([2, 5, 5, 1]), X, seed=0), sbn_estimators.estimator('st')
    dynamo.reset(); counters.clear()
    f = torch.compile(lambda: est.surrogate(net, X, Y), backend='eager', fullgraph=True)
    torch.manual_seed(0); s = f(); s.backward()
    torch.manual_seed(0); e = est.surrogate(net, X, Y)
    assert sum(counters['graph_break'].values()) == 0, dict(counters['graph_break'])
    assert torch.equal(s.detach(), e.detach())
    dynamo.reset()

def test_eager_value_checks_unchanged():
    "Eager calls still read the values: non-finite inputs and bad targets are refused as before."
    from sbn_estimators.core import check_inputs, check_targets, check_finite
    with pytest.raises(ValueError, match='non-finite'): check_finite(torch.tensor([1., float('nan')]), 'x')
    with pytest.raises(ValueError, match='non-finite'): check_inputs(torch.tensor([[1., float('inf')]]), (2,))
    with pytest.raises(ValueError, match='must be -1 or \\+1'): check_targets(torch.tensor([[0.], [1.]]), 'logistic', 1, 2)
    with pytest.raises(ValueError, match='class indices must be in'): check_targets(torch.tensor([0, 3]), 'cross_entropy', 3, 2)

def test_trainer_turns_mirror_descent_gradient_check_off(monkeypatch):
    "sbn-train checks every gradient before the step, so the MirrorDescentAdam it makes runs without its own check (a host sync), as Bop and BayesBiNN do."
    from torch import nn
    from sbn_estimators import binary_optimizers, binary_weights
    from sbn_estimators.models import MODELS, register_model
    from sbn_estimators.binary_weights import BinaryWeightLinear
    from sbn_estimators.train import TrainConfig, train
    calls = []
    orig = binary_weights._check_grads
    def spy(opt, who, why):
        calls.append(getattr(opt, 'check_grads', True))
        return orig(opt, who, why)
    monkeypatch.setattr(binary_optimizers, '_check_grads', spy)
    monkeypatch.setattr(binary_weights, '_check_grads', spy)
    def bw_linear_s49h(est=None, in_shape=(64,), n_out=10):
        return nn.Sequential(BinaryWeightLinear(in_shape[0], n_out, bias=False), nn.BatchNorm1d(n_out))
    register_model('bw_linear_s49h', 'layered', (None,), 'digits', 'test model')(bw_linear_s49h)
    try:
        cfg = TrainConfig(data='digits', model='bw_linear_s49h', optimizer='mirror_descent:clip=1', lr=0.1, epochs=1,
                          n_train=128, val=64, n_test=64, batch_size=64, eval_samples=1, seed=0, device='cpu')
        train(cfg, None, progress=False)
    finally: MODELS.pop('bw_linear_s49h', None)
    assert calls and not any(calls), calls   # stepped, never with the optimizer's own check on
