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


# Review s58 G (cross-version): a resumed report never mixes versions' numbers silently; the exact reference is compared up to rounding
import copy, json
import pytest
import torch
from sbn_estimators import __version__
from sbn_estimators.gradeval import gradient_report, gradeval_cli, train_toy_sbn

@pytest.fixture(scope='module')
def toy():
    net, X, Y = train_toy_sbn(epochs=0, seed=0)
    return net, X, Y, gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=False)

def test_records_say_which_version_drew_them_and_another_versions_are_drawn_again(toy, capsys):
    net, X, Y, r = toy
    assert r['estimators']['st']['sbn_estimators'] == __version__
    same, old = copy.deepcopy(r), copy.deepcopy(r)
    same['estimators']['st']['seconds'] = old['estimators']['st']['seconds'] = -1.   # a mark: reused or drawn again
    assert gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=False, resume=same)['estimators']['st']['seconds'] == -1.
    old['estimators']['st']['sbn_estimators'] = '0.2.2'
    again = gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=True, resume=old)['estimators']['st']
    assert again['seconds'] >= 0 and again['sbn_estimators'] == __version__ and again['groups'] == r['estimators']['st']['groups']
    assert f"note: st of the saved report was drawn by sbn_estimators 0.2.2, this is {__version__}: drawn again" in capsys.readouterr().err
    del old['estimators']['st']['sbn_estimators']   # a record of 0.2.2 or earlier
    assert gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=False, resume=old)['estimators']['st']['seconds'] >= 0

def test_the_exact_reference_is_compared_up_to_rounding(toy):
    net, X, Y, r = toy
    near, far = copy.deepcopy(r), copy.deepcopy(r)
    g = next(iter(r['exact_grad']))
    near['exact_grad'][g] = (torch.tensor(r['exact_grad'][g], dtype=torch.float64) * (1 + 1e-13)).tolist()   # another summation order
    gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=False, resume=near)
    far['exact_grad'][g] = (torch.tensor(r['exact_grad'][g], dtype=torch.float64) * 1.001).tolist()
    with pytest.raises(ValueError, match="an exact gradient that differs from this run's .*start afresh"):
        gradient_report(net, X, Y, 'st', samples=40, chunk=20, progress=False, resume=far)

def test_a_toy_partial_of_0_2_1_is_refused_before_the_training(tmp_path, capsys, monkeypatch):
    import sbn_estimators.gradeval as ge
    args = ['--epochs', '0', '--estimators', 'exact,st', '--samples', '40', '--chunk', '20', '--threads', '1', '--quiet', '--json', str(tmp_path / 'r.json')]
    gradeval_cli(args)
    rep = json.loads((tmp_path / 'r.json').read_text())
    for rec in rep['estimators'].values(): rec.pop('state_sha256'); rec.pop('sbn_estimators')   # as 0.2.1 wrote them
    (tmp_path / 'r.json.partial').write_text(json.dumps(rep))
    monkeypatch.setattr(ge, 'train_toy_sbn', lambda *a, **k: pytest.fail('trained before refusing'))
    with pytest.raises(SystemExit) as e: gradeval_cli([*args, '--resume'])
    assert e.value.code == 2
    assert 'toy network of sbn_estimators 0.2.1 or earlier, which 0.2.2 trains differently (new seeds); leave out --resume' in capsys.readouterr().err


def test_the_relaxed_unit_keeps_one_tensor_for_its_backward_and_works_under_torch_func():
    "Review s58 K1: 2 sigmoid(t) - 1 in its sign-aware form kept three tensors per unit for the backward (sign, 2 sign, the sigmoid); one now."
    from sbn_estimators.relaxed import _pm_sigmoid
    t = torch.linspace(-30, 30, 61, dtype=torch.float64, requires_grad=True)
    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda x: packed.append(x) or x, lambda x: x):
        y = _pm_sigmoid(t)
    assert len(packed) == 1
    plain = lambda t: 2 * torch.sigmoid(t) - 1
    g, = torch.autograd.grad(y.sum(), t, create_graph=True)
    h, = torch.autograd.grad(g.sum(), t)
    mid = t.detach().abs() < 10   # where the plain form's derivatives are accurate in float64
    g0, = torch.autograd.grad(plain(t).sum(), t, create_graph=True)
    h0, = torch.autograd.grad(g0.sum(), t)
    assert torch.allclose(g[mid], g0[mid], rtol=1e-12) and torch.allclose(h[mid], h0[mid], rtol=1e-10, atol=1e-15)
    td = t.detach()
    assert torch.allclose(torch.func.vmap(torch.func.grad(lambda u: _pm_sigmoid(u)))(td), g.detach(), rtol=1e-14)
    assert torch.allclose(torch.func.jvp(_pm_sigmoid, (td,), (torch.ones_like(td),))[1], g.detach(), rtol=1e-14)
