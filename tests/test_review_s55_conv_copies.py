"A conv SBN's wrongly shaped parameters get the message of a net without copies, not a hint to pass copies that it refuses."
import pytest, torch
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.psa import psa_loss

def test_conv_shape_error_offers_no_copies():
    net = SBNConvNet((1, 4, 4), [(2, 3, 1, 1)], 3, dtype=torch.float64)
    P = net.sample_params(1)
    with pytest.raises(ValueError, match=r"expected shape \[2, 1, 3, 3\] \(SBNConvNet takes unbatched parameters: one set, no copies\), got \[2, 1, 3, 2\]"):
        psa_loss(net, torch.randn(2, 1, 4, 4, dtype=torch.float64), torch.tensor([0, 1]), params=[(torch.randn(2, 1, 3, 2, dtype=torch.float64), P[0][1]), P[1]])
