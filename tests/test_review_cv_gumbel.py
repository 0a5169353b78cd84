"Review of pages 16 and 18: double_cv's control-variate scale alpha, and Gumbel-Rao's conditional noise computed in float32 for half-precision pre-activations."
import math
import pytest, torch
from sbn_estimators.sbn import SBNMLP, cos_data
from sbn_estimators.estimators import estimator, draw_estimates
from sbn_estimators.control_variates import DoubleCV
from sbn_estimators.gumbel_family import GumbelRao

torch.set_num_threads(1)


@pytest.mark.parametrize('alpha', [float('nan'), float('inf'), True, '1', None])
def test_double_cv_alpha_must_be_finite(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number, got"):
        DoubleCV(alpha=alpha)


def test_double_cv_alpha_in_spec():
    e = estimator('double_cv:alpha=0.2')
    assert isinstance(e, DoubleCV) and e.alpha == 0.2 and type(e.alpha) is float and e.spec == 'double_cv:alpha=0.2'
    assert estimator('double_cv').alpha == 1.0 and estimator('double_cv').spec == 'double_cv'


def test_double_cv_alpha_scales_the_control_variate():
    "alpha = 0 is leave-one-out REINFORCE estimate for estimate; on the same paths the estimate is linear in alpha."
    X, Y = cos_data()
    net = SBNMLP([2, 4, 3, 1])
    x, y = X[:6], Y[:6]
    d = {}
    for a in (0., 0.5, 1.):
        torch.manual_seed(0)
        d[a] = draw_estimates(net, x, y, estimator('double_cv', alpha=a), 50)
    torch.manual_seed(0)
    loo = draw_estimates(net, x, y, estimator('reinforce:baseline=loo'), 50)
    for k in loo:
        torch.testing.assert_close(d[0.][k], loo[k], rtol=0, atol=1e-12)
        torch.testing.assert_close(d[0.5][k], (d[0.][k] + d[1.][k]) / 2, rtol=0, atol=1e-12)
    assert any((d[1.][k] - d[0.][k]).abs().max() > 1e-6 for k in loo)   # alpha = 1 is not leave-one-out


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('a0, x0', [(0., 1.), (0., -1.), (1.5, 1.), (-2.25, -1.)])
def test_gumbel_rao_noise_given_respects_the_state_in_half_precision(dtype, a0, x0):
    "Z | x lies on the drawn state's side, x (a - Z) > 0, also for half-precision a (the truncation point was computed in a's dtype)."
    torch.manual_seed(0)
    a, x = torch.full((1,), a0, dtype=dtype), torch.full((1,), x0, dtype=dtype)
    z = GumbelRao(k=100_000).noise_given(a, x)
    assert z.dtype == torch.float32
    assert (x.float() * (a.float() - z) > 0).all()
