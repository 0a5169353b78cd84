"Review s62, fix F: integer input (raw images as a dataset stores them) is refused with the dataset's transform named, not a cast (a cast skipped the scaling the network was trained on and changed its predictions silently)."
import pytest, torch
from sbn_estimators.core import check_inputs
from sbn_estimators.sbn import SBNMLP


def test_integer_input_names_the_transform_not_a_cast():
    X = torch.randint(0, 17, (5, 4), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"got torch.uint8; integer input \(raw data, such as images stored as torch.uint8\) must go through the transform the network was trained on, as a run's does: Data.input, e.g. load_data\(cfg\).input\(x, torch.float32\)") as e:
        SBNMLP([4, 3, 2], dtype=torch.float32)(X)
    assert 'pass x.to' not in str(e.value)
    with pytest.raises(ValueError, match=r"pass x.to\(torch.float32\)"):   # float to float: the cast is right
        check_inputs(X.double(), (4,), torch.float32)
