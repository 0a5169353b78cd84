"Review s62 D (mutation testing): three formulas that only a page's lesson cell checked get a unit test each: REINFORCE's moving-average baseline, BiPer's expected quantization error at a vanishing frequency, and BayesBiNN's bias-corrected momentum step."
import math
import torch
from torch import nn
from sbn_estimators.estimators import estimator
from sbn_estimators.biper import expected_quantization_error
from sbn_estimators.binary_optimizers import BayesBiNN


def test_reinforce_ema_baseline_weights_the_old_mean_by_decay():
    x = torch.zeros(4, 2, dtype=torch.float64)
    fs = [torch.tensor([0.1, 0.2, 0.3, 0.6], dtype=torch.float64) * t for t in (1, 2, 3)]
    ema = estimator('reinforce', baseline='ema', decay=0.75)
    b = [float(ema._baseline(f, x)) for f in fs]
    assert b[0] == 0 and math.isclose(b[1], fs[0].mean().item(), rel_tol=1e-12)
    assert math.isclose(b[2], 0.75 * fs[0].mean().item() + 0.25 * fs[1].mean().item(), rel_tol=1e-12)   # a swap gives 0.25 / 0.75


def test_biper_quantization_error_tends_to_one_as_the_frequency_vanishes():
    # sin(w omega) of a tiny omega has the sign of w and |sin| ~ 0: the error |s - sign(s)| is 1; a wrong series (4k^2 + 1) gives 0.817
    assert math.isclose(expected_quantization_error(1e-3, 0.05), 1., abs_tol=1e-4)


def test_bayesbinn_momentum_is_bias_corrected():
    torch.manual_seed(1)
    w = nn.Parameter(torch.tensor([0.3, -0.2, 0.05]))
    N, a, tau, lam_p, beta, e = 10, 0.1, 0.5, 0.3, 0.8, 1e-3
    opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=N, lr=a, temperature=tau, init_lambda=1.0, prior_lambda=lam_p, beta=beta, scale_eps=e)
    lam, m = opt.state[w]['lambda'].clone(), torch.zeros(3)
    for t, g in enumerate((torch.tensor([0.4, -0.1, 0.2]), torch.tensor([-0.3, 0.2, 0.5])), 1):
        wr = w.detach().clone()
        s = (1 - wr ** 2 + e) / (tau * (1 - torch.tanh(lam) ** 2 + e))
        m = beta * m + (1 - beta) * (N * s * g + lam - lam_p)
        lam = lam - a * m / (1 - beta ** t)   # Adam's correction of the zero-started average
        w.grad = g; opt.step()
        torch.testing.assert_close(opt.state[w]['lambda'], lam, rtol=0, atol=1e-5)
