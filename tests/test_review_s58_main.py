"Review s58 (main): result.json lists every version that trained the run, as the checkpoints do."
import json
from sbn_estimators import __version__
from sbn_estimators.train import TrainConfig, train

def test_result_json_records_every_version_that_trained_the_run(tmp_path):
    out = tmp_path / 'run'
    train(TrainConfig(data='cos', estimator='st', epochs=1, device='cpu', n_train=32, batch_size=16, val=16, n_test=16), out=out, progress=False)
    res = json.loads((out / 'result.json').read_text())
    assert res['sbn_estimators_seen'] == [__version__] and res['environment']['sbn_estimators'] == __version__


def test_a_layered_plugin_built_in_float64_stays_float64_unless_a_dtype_is_asked_for():
    "Review s58 J1: the dtype register_model adds casts only where it is given; a plugin's own float64 model is not made float32."
    import torch
    from torch import nn
    from sbn_estimators.models import register_model, get_model, MODELS
    @register_model('s58_f64', kind='layered', input_shape=(None,), dataset='digits', description='f64', needs_est=False)
    def s58_f64(est=None, in_shape=(64,), n_out=10, hidden=8):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0], hidden, dtype=torch.float64), nn.Linear(hidden, n_out, dtype=torch.float64))
    try:
        assert {p.dtype for p in get_model('s58_f64', None, (64,), 10).parameters()} == {torch.float64}
        assert {p.dtype for p in get_model('s58_f64:dtype=float32', None, (64,), 10).parameters()} == {torch.float32}
    finally: MODELS.pop('s58_f64')


def test_a_ugc_subclass_whose_draw_takes_p_alone_still_works():
    "Review s58 J2: UGC's draw gained q = F(-a); a subclass overriding draw(self, p) as before is called with p alone."
    import torch
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.control_variates import UGC
    class MyUGC(UGC):
        def draw(self, p): return super().draw(p)
    net = SBNMLP([4, 5, 5, 1], loss='logistic')
    x, y = torch.randn(3, 4, dtype=torch.float64), torch.tensor([[-1.], [1.], [-1.]], dtype=torch.float64)
    torch.manual_seed(0); a = UGC().surrogate(net, x, y)
    torch.manual_seed(0); b = MyUGC().surrogate(net, x, y)
    assert torch.equal(a, b)


def test_an_estimator_defined_in_a_script_read_from_stdin_has_no_dead_link():
    "Review s58 J3: inspect names '<stdin>' as the source file of `python - < script.py`; that is no file to link to."
    import subprocess, sys
    code = ("from sbn_estimators.estimators import register_estimator\n"
            "from sbn_estimators.straight_through import ST\n"
            "from sbn_estimators.catalogue import derivation_page, derivation_label\n"
            "@register_estimator('s58_stdin')\n"
            "class Mine(ST): 'mine'\n"
            "print(repr(derivation_page('s58_stdin')), derivation_label('s58_stdin'))\n")
    out = subprocess.run([sys.executable, '-'], input=code, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "'' Mine (defined in this session)", out.stdout
