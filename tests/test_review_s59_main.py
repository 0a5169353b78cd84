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
