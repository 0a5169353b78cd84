"Session 47, own fixes: the binary-weight layers' repr shows `deterministic` only where the layer uses it."
import torch
from sbn_estimators import estimator
from sbn_estimators.binary_weights import BinaryWeightLinear, BinaryWeightConv2d

def test_repr_deterministic_only_without_binarizer():
    plain = BinaryWeightLinear(3, 2, deterministic=False)
    assert 'deterministic=False' in repr(plain) and "scale='none'" in repr(plain)
    for lay in (BinaryWeightLinear(3, 2, binarize=estimator('st')), BinaryWeightConv2d(2, 2, 3, binarize=estimator('st'))):
        head = repr(lay).splitlines()[1]   # the layer's own line; the binarizer's repr follows on its own line
        assert 'deterministic' not in head and "scale='none'" in head, head
        assert 'ST(noise=' in repr(lay)
