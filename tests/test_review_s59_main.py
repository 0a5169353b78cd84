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

# Review of the day's change (revT): regressions fixed before they landed
import gzip, json, struct, textwrap, sys

def test_checkpoint_with_extra_state_is_not_damaged():
    "A module's `get_extra_state` puts a non-tensor under a key ending in '_extra_state': a whole state_dict, not a damaged one."
    from sbn_estimators.train import _damage
    class Counted(torch.nn.Linear):
        def get_extra_state(self): return {'calls': 3}
        def set_extra_state(self, s): pass
    sd = Counted(2, 2).state_dict()
    assert any(k.endswith('_extra_state') for k in sd)
    assert _damage({'model': sd}, weights=True) == ''
    assert 'expected a dict of parameter names to tensors' in _damage({'model': {'weight': [1, 2]}}, weights=True)   # other non-tensors still refused

def _plugin(tmp_path, code):
    p = tmp_path / 'plug_s59.py'; p.write_text(textwrap.dedent(code)); return str(p)

NOISY = '''
import math, torch, torch.nn as nn
from sbn_estimators.models import register_model
class NoisyS59(nn.Module):
    "an MLP whose own units sample in evaluation"
    def __init__(self, n_in, n_out):
        super().__init__(); self.l1 = nn.Linear(n_in, 16); self.l2 = nn.Linear(16, n_out)
    def forward(self, x):
        h = torch.tanh(self.l1(x.flatten(1)))
        return self.l2(torch.where(torch.rand_like(h) < torch.sigmoid(h), 1., -1.).to(h.dtype) + 0 * h)
@register_model('noisy_mlp_s59', 'layered', (None,), 'digits', "MLP with its own stochastic units", needs_est=False)
def noisy_mlp_s59(est=None, in_shape=(64,), n_out:int=10): return NoisyS59(math.prod(in_shape), n_out)
'''

def test_plugin_model_that_samples_is_sampled(tmp_path):
    "A plugin's module may draw its own noise: its evaluation draws K samples and --eval-samples is taken (was: refused, one forward)."
    from sbn_estimators.models import MODELS
    plug = _plugin(tmp_path, NOISY)
    try: _noisy_checks(plug)
    finally: MODELS.pop('noisy_mlp_s59', None)   # the registry is shared by the tests of this process

def _noisy_checks(plug):
    from sbn_estimators.train import config_from_args, _parser, _samples_nothing, evaluate
    from sbn_estimators.models import get_model
    from sbn_estimators.data import digits_data
    cfg = config_from_args(_parser().parse_args(['--plugins', plug, '--model', 'noisy_mlp_s59', '--eval-samples', '4', '--smoke']))
    assert cfg.eval_samples == 4
    net = get_model('noisy_mlp_s59', None, in_shape=(64,))
    assert not _samples_nothing(net)
    d, calls = digits_data(), []
    h = net.register_forward_hook(lambda *a: calls.append(1))
    evaluate(net, d, 'val', samples=3, batch_size=10_000)
    h.remove()
    assert len(calls) == 4   # three samples and the deterministic pass
    assert _samples_nothing(get_model('duo_mlp', 'clipped_st', in_shape=(64,)))   # the library's BinaryDuo net: still one forward

def test_duo_selection_metric_unchanged():
    "BinaryDuo's nets keep choosing best.pt on val_acc (equal to val_det_acc there), so searches and comparisons of 0.2.3 are reused."
    from sbn_estimators.train import TrainConfig, selection_metric
    assert selection_metric(TrainConfig(data='digits', model='duo_mlp', device='cpu')) == 'val_acc'

def test_ignored_settings_refused_from_a_config_file(tmp_path):
    "A config file's eval_samples / est_schedule that the run would ignore are refused as the options are."
    from sbn_estimators.train import config_from_args, _parser
    f = tmp_path / 'c.json'
    f.write_text(json.dumps({'model': 'duo_mlp', 'data': 'digits', 'eval_samples': 8}))
    with pytest.raises(ValueError, match=r"eval_samples 8 of config file .* is not used: model 'duo_mlp' samples nothing .*drop eval_samples from the file"):
        config_from_args(_parser().parse_args(['--config', str(f), '--smoke']))
    f.write_text(json.dumps({'data': 'digits', 'estimator': 'st', 'est_schedule': False}))
    with pytest.raises(ValueError, match=r"est_schedule False of config file .* is not used: estimator 'st'"):
        config_from_args(_parser().parse_args(['--config', str(f), '--smoke']))

def test_est_schedule_message_names_no_unused_estimator():
    from sbn_estimators.train import config_from_args, _parser
    with pytest.raises(ValueError, match=r"^--est-schedule is not used: model 'duo_mlp' has no schedule"):
        config_from_args(_parser().parse_args(['--model', 'duo_mlp', '--est-schedule', '--smoke']))

def test_gzipped_idx_with_a_huge_header_is_refused(tmp_path):
    "A gzipped IDX header claiming 2^64 items: the one-line ValueError the uncompressed file gets (was: OverflowError from zlib)."
    from sbn_estimators.data import read_idx
    raw = struct.pack('>BBBB', 0, 0, 8, 3) + struct.pack('>3I', 0xFFFFFFFF, 0xFFFFFFFF, 28) + bytes(100)
    (tmp_path / 'bad.gz').write_bytes(gzip.compress(raw)); (tmp_path / 'bad.idx').write_bytes(raw)
    for name in ('bad.idx', 'bad.gz'):
        with pytest.raises(ValueError): read_idx(tmp_path / name)
