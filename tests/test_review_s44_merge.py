"""Session 44, after merging: PSA's compiled kernels run on an autograd graph of their own (`_OwnGraph`, for
`retain_graph`/`create_graph`); inside a caller that `torch.compile` compiles, that graph's output must not be a view
of the kernel's output, or aot_autograd mis-replays it ('incorrect out shape after application of ViewMeta sequence')."""
import logging, warnings
import torch
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.psa import psa_loss


def test_psa_compiled_inside_a_compiled_caller_matches_eager():
    torch._logging.set_logs(dynamo=logging.ERROR)
    torch.manual_seed(0)
    net = SBNMLP([8, 16, 16, 3], loss='cross_entropy', dtype=torch.float32)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    states = [torch.randint(0, 2, (32, 16)).float() * 2 - 1 for _ in range(2)]
    def grads(L): return torch.autograd.grad(L, list(net.parameters()))
    ref = grads(psa_loss(net, x, y, states=states, backend='eager').mean())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        got = grads(torch.compile(lambda: psa_loss(net, x, y, states=states, backend='compiled').mean())())
    for r, g in zip(ref, got): torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)
