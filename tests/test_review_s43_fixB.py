"""Review fixes (s43, B): exact enumeration and gradient_report read only the SBNModel protocol (which now names the
widths `sizes`, `binary_sizes` and the parameter groups `group_names`), so a model that implements only the protocol
is enumerated, and one that lacks a member gets one ValueError naming it; forward-mode AD (`torch.func.jvp`, `jacfwd`,
`torch.autograd.forward_ad`) through straight-through gives the surrogate's slope, the Jacobian reverse mode gives."""
import pytest, torch
import torch.autograd.forward_ad as fwAD
from sbn_estimators.core import *
from sbn_estimators.sbn import *
from sbn_estimators.exact import *
from sbn_estimators.estimators import *
from sbn_estimators.straight_through import *
from sbn_estimators import gradeval

torch.set_num_threads(1)
f64 = torch.float64


def fails(f, *parts):
    with pytest.raises(ValueError) as e: f()
    for p in parts: assert p in str(e.value), (p, str(e.value))


class Mini:
    "Only the SBNModel protocol (no nn.Module, no `layers`): an MLP of `widths` on plain tensors."
    noise, loss, loss_name = NOISES['logistic'], staticmethod(logistic_loss), 'logistic'   # a function as class attribute: not a method
    def __init__(self, widths=(2, 3, 2, 1), dtype=f64, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.sizes, self.binary_sizes = list(widths), list(widths[1:-1])
        self.group_names = [f'g{k}' for k in range(len(widths) - 1)]
        self.p = [(torch.randn(o, i, generator=g, dtype=f64).to(dtype).requires_grad_(),
                   torch.randn(o, generator=g, dtype=f64).to(dtype).requires_grad_()) for i, o in zip(widths[:-1], widths[1:])]
    def layer_params(self, params=None): return self.p if params is None else params
    def sample_params(self, n): return [tuple(t.detach().expand(n, *t.shape).clone().requires_grad_() for t in pr) for pr in self.p]
    def forward(self, x, activation=None, params=None):
        act = activation or (lambda a: sample_states(a, self.noise))
        *hid, head = self.layer_params(params); h = x
        for W, b in hid: h = act(linear(h, W, b))
        return linear(h, *head)
    def layer(self, k, h, params=None): return linear(h, *self.layer_params(params)[k])
    def head(self, h, params=None): return linear(h, *self.layer_params(params)[-1])
    def check_data(self, x, y):
        (W, _), (V, _) = self.p[0], self.p[-1]
        check_inputs(x, W.shape[1:], W.dtype, W.device); check_targets(y, self.loss, V.shape[0], len(x), W.device)


def as_mlp(m):
    net = SBNMLP(m.sizes, dtype=m.p[0][0].dtype)
    with torch.no_grad():
        for l, (W, b) in zip(net.layers, m.p): l.weight.copy_(W); l.bias.copy_(b)
    return net


def data(dtype=f64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, generator=g, dtype=f64).to(dtype)
    return x, torch.tensor([[1.], [-1.], [1.], [1.], [-1.], [-1.]], dtype=dtype)


# 1. exact enumeration and gradeval use only the protocol
def test_exact_loss_of_a_protocol_only_model():
    "The exact loss and gradient of a model that is no SBNMLP equal those of the same SBNMLP (AttributeError 'layers' before)."
    m, (x, y) = Mini(), data()
    net = as_mlp(m)
    assert exact_memory(m, 6) == exact_memory(net, 6) and check_enumerable(m, 6) == check_enumerable(net, 6)
    lm, ln = exact_loss(m, x, y), exact_loss(net, x, y)
    torch.testing.assert_close(lm, ln, rtol=1e-14, atol=0)
    gm = torch.autograd.grad(lm, [t for pr in m.p for t in pr])
    gn = torch.autograd.grad(ln, list(net.parameters()))
    for u, v in zip(gm, gn): torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-15)
    d = draw_estimates(m, x, y, estimator('exact'), 2)
    assert list(d) == ['g0', 'g1', 'g2'] and d['g0'].shape == (2, 9)


def test_gradient_report_of_a_protocol_only_model():
    m, (x, y) = Mini(), data()
    r = gradeval.gradient_report(m, x, y, 'st,reinforce', samples=8, progress=False)
    assert abs(r['exact_loss'] - exact_loss(as_mlp(m), x, y).item()) < 1e-12
    assert [g['group'] for g in r['estimators']['st']['groups']] == ['g0', 'g1', 'g2']


@pytest.mark.parametrize('member', ['sizes', 'binary_sizes', 'group_names'])
def test_a_model_without_a_protocol_member_gets_one_value_error(member):
    "A model lacking a member exact reads: a ValueError naming it, from every entry point (AttributeError before)."
    class Lacking(Mini): pass
    m, (x, y) = Lacking(), data()
    delattr(m, member)
    for f in (lambda: exact_loss(m, x, y), lambda: exact_memory(m, 6), lambda: check_enumerable(m, 6),
              lambda: draw_estimates(m, x, y, estimator('exact'), 1),
              lambda: gradeval.gradient_report(m, x, y, 'st', samples=2, progress=False)):
        fails(f, "estimator 'exact' needs an SBN model", f"got Lacking, missing {member}")


def test_widths_that_do_not_fit_the_layers_are_refused():
    "sizes, binary_sizes and group_names are checked against layer_params() (counts) and the layers' outputs (widths)."
    m, (x, y) = Mini(), data()
    m.sizes = [2, 3, 1]; m.binary_sizes = [3]
    fails(lambda: exact_loss(m, x, y), "the SBN model Mini has 3 (W, b) pairs in layer_params()", "but sizes [2, 3, 1] (needs 4 widths")
    m = Mini(); m.binary_sizes = [3, 3]
    fails(lambda: check_sbn_model(m, 'psa'), "estimator 'psa'", "binary_sizes [3, 3] (needs sizes[1:-1] = [3, 2])")
    m = Mini(); m.group_names = ['a']
    fails(lambda: estimator('reinforce').surrogate(m, x, y), "group_names ['a'] (needs 3 names)")
    m = Mini(); m.sizes, m.binary_sizes = [2, 3, 3, 1], [3, 3]          # the right count, a wrong width
    fails(lambda: exact_loss(m, x, y), "net.layer(1, h) gives 2 units (shape [8, 2]) but the model's sizes say 3")
    m = Mini(); m.sizes, m.binary_sizes = [2, 4, 2, 1], [4, 2]
    fails(lambda: exact_loss(m, x, y), "net.layer(0, x) gives 3 units")


def test_float32_protocol_model_at_the_rounding_level_is_refused_not_cast():
    "gradient_report's float64 re-check needs .double(): a model without it gets the ValueError (AttributeError before)."
    m, (x, y) = Mini(dtype=torch.float32), data(torch.float32)
    with torch.no_grad(): m.p[-1][0].zero_()                      # the head ignores the states: layers 0 and 1 have gradient 0
    fails(lambda: gradeval.gradient_report(m, x, y, 'st', samples=2, progress=False),
          "exact: the exact gradients of g0", "zero up to the rounding of torch.float32 (a model without .double() is not checked again in float64")


def test_sbn_models_still_pass_the_protocol():
    from sbn_estimators.sbn_conv import SBNConvNet
    for net in (SBNMLP([2, 3, 1]), SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 2)):
        assert isinstance(net, SBNModel) and check_sbn_model(net, 'psa') is net


# 2. forward-mode AD through straight-through
ST_FAMILY = ('st', 'identity_st', 'clipped_st', 'approx_sign', 'swish_sign', 'reste', 'ede')


@pytest.mark.parametrize('name', ST_FAMILY)
@pytest.mark.parametrize('deterministic', [True, False])
def test_jacfwd_equals_jacrev_for_straight_through(name, deterministic):
    "jvp is the surrogate's slope, as the backward: one Jacobian (NotImplementedError 'You must implement the jvp' before)."
    est = estimator(name, deterministic=deterministic)
    a = torch.randn(7, dtype=f64, generator=torch.Generator().manual_seed(2))
    a[0] = 0.
    torch.manual_seed(0); jr = torch.func.jacrev(est)(a)
    torch.manual_seed(0); jf = torch.func.jacfwd(est, randomness='same')(a)
    assert torch.equal(jf, jr) and jr.count_nonzero() > 0


def test_forward_ad_and_jvp_through_straight_through():
    a, s = torch.randn(5, dtype=f64), torch.rand(5, dtype=f64)
    v = torch.randn(5, dtype=f64)
    f = lambda a: straight_through(sign_pm(a.detach()), a, s)
    out, tangent = torch.func.jvp(f, (a,), (v,))
    assert torch.equal(out, sign_pm(a)) and torch.equal(tangent, v * s)
    with fwAD.dual_level():
        y = fwAD.unpack_dual(f(fwAD.make_dual(a, v)))
        assert torch.equal(y.primal, sign_pm(a)) and torch.equal(y.tangent, v * s)
    g = lambda a: straight_through(sign_pm(a.detach()), a, s.float()[None].expand(3, 5))   # the broadcasting path
    out, tangent = torch.func.jvp(g, (a,), (v,))
    assert tangent.shape == (3, 5) and tangent.dtype == f64 and torch.equal(tangent, (v * s.float()).expand(3, 5))
    torch.testing.assert_close(torch.func.jacfwd(g)(a), torch.func.jacrev(g)(a), rtol=0, atol=0)


def test_straight_through_still_compiles_in_one_graph():
    "While torch.compile traces, the Function without a jvp runs: no graph break."
    torch._dynamo.reset()
    est = estimator('st', deterministic=True)
    def step(a, w): return (est(a) * w).sum()
    a, w = torch.randn(4, 5), torch.randn(4, 5)
    assert torch._dynamo.explain(step)(a, w).graph_break_count == 0
