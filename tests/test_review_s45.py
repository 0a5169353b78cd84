"""Review s45: checks added in session 45. Every `Noise` function of an integer or bool tensor is the float32 function
of the same values (the normal cdf/pdf/log_cdf were rounded back to the integer dtype, the triangular pdf stayed
integer, and uint8 inputs wrapped around under negation)."""
import pytest, torch
from sbn_estimators.core import NOISES


@pytest.mark.parametrize('noise', list(NOISES))
@pytest.mark.parametrize('dtype', [torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool])
def test_noise_functions_of_integers_are_float(noise, dtype):
    a = torch.tensor([0, 1, 3]).to(dtype)
    for f in ('cdf', 'pdf', 'log_cdf', 'mean'):
        got, ref = getattr(NOISES[noise], f)(a), getattr(NOISES[noise], f)(a.float())
        assert got.dtype == torch.float32, (f, got.dtype)
        torch.testing.assert_close(got, ref, rtol=0, atol=0, msg=f)
    if noise == 'normal':   # Phi(0), Phi(1), Phi(3): the values the integer path rounded to 0
        torch.testing.assert_close(NOISES[noise].cdf(a), torch.special.ndtr(a.float()))
