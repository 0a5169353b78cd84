"A target check named by a description (the trainer's split) gives hints in code that runs: `2*y - 1`, not `2*data 'x' (training split) - 1`."
import pytest, torch
from sbn_estimators.core import check_targets

WHERE = "data 'mine01' (training split)"

@pytest.mark.parametrize("y,loss,n_out,hint", [
    (torch.tensor([[0.], [1.]]), 'logistic', 1, r"pass 2\*y - 1"),
    (torch.tensor([0., 1.]), 'logistic', 1, r"pass y\[:, None\]"),
    (torch.tensor([0., 1.]), 'cross_entropy', 2, r"pass y\.long\(\)"),
    (torch.tensor([[1., 0.], [0., 1.]]), 'cross_entropy', 2, r"pass y\.argmax\(1\)"),
    (torch.tensor([[0], [1]]), 'cross_entropy', 2, r"pass y\[:, 0\]")])
def test_hint_names_a_variable(y, loss, n_out, hint):
    with pytest.raises(ValueError, match=rf"^data 'mine01' \(training split\): .*{hint}"): check_targets(y, loss, n_out, 2, name=WHERE)
    with pytest.raises(ValueError, match=hint.replace('y', 'labels', 1)): check_targets(y, loss, n_out, 2, name='labels')
