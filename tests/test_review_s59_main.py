"Session 59 fixes made in the main tree: a proxy's sign(a) probe on the estimator's own device."
import torch, pytest
from sbn_estimators.estimators import LocalEstimator
from sbn_estimators.mismatch import proxy_estimator

class ScaledST(LocalEstimator):
    "sign(a) forward, `scale`·1[|a| ≤ 1] backward; `scale` a buffer that moves with the estimator"
    stochastic = False
    def __init__(self, noise='logistic'):
        super().__init__(noise); self.register_buffer('scale', torch.ones(1))
    def forward(self, a):
        s = torch.where(a >= 0, 1., -1.).to(a.dtype)
        g = self.scale * a.clamp(-1, 1)   # mixes a with the buffer: a probe on another device raises here
        self.probed_on = a.device
        return s.detach() + g - g.detach()

def test_proxy_probe_on_the_estimators_device():
    "The meta device stands in for a GPU: the probe is built where the estimator's buffer lives (was: always on the CPU, a device-mismatch RuntimeError)."
    est = ScaledST().to('meta')
    with pytest.raises(Exception) as e: proxy_estimator(est)
    assert 'device' not in str(e.value).lower(), e.value   # gets past the device mix; meta tensors cannot then be read back (a GPU's can)
    seen = {}
    class Seen(ScaledST):
        def forward(self, a):
            seen['device'] = a.device
            return super().forward(a)
    try: proxy_estimator(Seen().to('meta'))
    except Exception: pass
    assert seen['device'].type == 'meta', seen

def test_proxy_probe_on_cpu_unchanged():
    est = proxy_estimator(ScaledST())
    assert est.probed_on.type == 'cpu'

@pytest.mark.parametrize('name', ['adf', 'local_reparam'])
def test_adf_refuses_a_loss_without_gradient(name):
    "ADF and local reparameterisation differentiate the loss through their Gaussian logits: a 0-1 loss is refused by name (was autograd's bare 'does not require grad' at backward)."
    import sbn_estimators.adf
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.estimators import estimator
    torch.manual_seed(0)
    net = SBNMLP([3, 3, 2, 3], loss=lambda eta, y: (eta * y < 0).double().sum(-1), dtype=torch.float64)
    x, y = torch.randn(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"estimator '{name}' differentiates the loss through eta"):
        estimator(name).surrogate(net, x, y).backward()
