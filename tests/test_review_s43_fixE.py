"Review s43 (fixE): ReSTE in 16 bits and under torch.compile (06), the annealed state in the reprs of ede/rbnn/progressive_sign and RBNN's NaN (19), BiPer's overflows, setter and empty penalty (19b), and the per-stage accuracy line of sbn-train (14)."
import json, math
from pathlib import Path
import pytest, torch
from torch import nn
import sbn_estimators as S
from sbn_estimators.reste import ReSTE, ReSTESchedule, reste_slope, reste_proxy
from sbn_estimators.ede import EDE, RBNN, ProgressiveSign
from sbn_estimators.biper import BiPer, biper_weights, quantization_error
from conftest import sbn_train

torch.set_num_threads(1)

# --- 1. ReSTE's peak slope against the dtype, and its 16-bit slope rounded once

def test_reste_refuses_a_peak_slope_beyond_float16():
    "m = 1e-8 at o = 3: the secant slope m^(1/o)/m = 215443 overflows float16 (was a silent NaN / inf gradient)."
    a = torch.tensor([0., 1e-6, .3], dtype=torch.float16, requires_grad=True)
    est = S.estimator('reste:m=1e-8')
    with pytest.raises(ValueError, match=r'peak slope .*215443.*beyond the largest torch\.float16 number 65504'):
        (est(a) * torch.tensor([0., 1, 1], dtype=torch.float16)).sum().backward()
    with pytest.raises(ValueError, match='torch.float16'): reste_slope(a.detach(), 3., m=1e-8)   # the public function too
    x = a.detach().float().requires_grad_()   # float32 holds it
    est(x).sum().backward(); assert torch.isfinite(x.grad).all()

def test_reste_refusal_follows_the_schedule():
    "At o = 1 (epoch 0) the peak is 1; the same estimator is refused later in the schedule, when the peak passes float16's range."
    est = S.estimator('reste:m=1e-8'); x = torch.zeros(2, dtype=torch.float16, requires_grad=True)
    est.on_epoch(nn.Sequential(), 0, 10)
    est(x).sum().backward(); assert torch.equal(x.grad, torch.ones(2, dtype=torch.float16))
    est.on_epoch(nn.Sequential(), 9, 10)
    with pytest.raises(ValueError, match='float16'): est(x)

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_reste_16bit_slope_is_rounded_once(dtype):
    "The 16-bit slope is the float64 slope of the same input rounded to the dtype (bf16 0.3: 0.7422, was 0.7461)."
    z = torch.linspace(-2, 2, 801).to(dtype)
    want = reste_slope(z.double(), 3.).to(dtype)
    assert torch.equal(reste_slope(z, 3.), want)
    a = z.clone().requires_grad_(); S.estimator('reste')(a).sum().backward()
    assert torch.equal(a.grad, want)
    assert torch.equal(reste_proxy(z, 3.), reste_proxy(z.double(), 3.).to(dtype))

# --- 2. torch.compile as o moves

def test_reste_compiles_fullgraph_across_epochs():
    "aot_eager, fullgraph=True: the backward follows o at each of 12 epochs (was 'torch.* op returned non-Tensor' once o moved, then FailOnRecompileLimitHit at epoch 8)."
    est = S.estimator('reste:deterministic=true')
    comp = torch.compile(est, backend='aot_eager', fullgraph=True)
    for e in range(12):   # past Dynamo's recompile limit (8): one graph for every o
        est.on_epoch(nn.Sequential(), e, 12)
        x = torch.linspace(-2, 2, 41, requires_grad=True)
        comp(x).sum().backward()
        assert torch.allclose(x.grad, reste_slope(x.detach(), est.o)), e
    torch._dynamo.reset()
    # the checks moved out of the forward stay where o, t, m are set, and in the public function
    with pytest.raises(ValueError, match='m must be a finite number'): reste_slope(torch.zeros(2), 3., m=math.nan)
    with pytest.raises(ValueError, match='o_end must be >= 1'): ReSTESchedule(nn.Sequential(ReSTE()), epochs=3, o_end=0.5)
    with pytest.raises(ValueError, match='o must be >= 1'): ReSTE(o=0.5)

# --- 3. the annealed state in the reprs; RBNN keeps NaN

def test_annealed_reprs_show_the_current_state():
    for cls in (EDE, RBNN):
        e = cls(); e.on_epoch(nn.Sequential(), 50, 100)
        assert f't={e.t!r}, k={e.k!r}' in repr(e), repr(e)
    e = EDE(); e.on_epoch(nn.Sequential(), 50, 100); assert 't=1.0, k=1.0' in repr(e)
    p = ProgressiveSign(); p.on_epoch(nn.Sequential(), 50, 100)
    assert 's=0.5, k=1024.0' in repr(p), repr(p)

def test_rbnn_proxy_keeps_nan():
    out = RBNN().proxy(torch.tensor([math.nan, 1., -500.]))
    assert math.isnan(out[0]) and out[1] > 0 and out[2] == -100.   # beyond sqrt(2)/t: k sign(a), k = 100 at t = 0.01

# --- 4. BiPer

def test_biper_16bit_phase_in_float32():
    "float16 latent 10 at freq 1e4: the phase 1e5 overflows float16 (was NaN); computed in float32 it is sin(1e5)."
    w = torch.tensor([10.], dtype=torch.float16)
    s = biper_weights(w, 1e4, binarize=False)
    assert s.dtype == torch.float16 and torch.equal(s, torch.sin(torch.tensor([1e5], dtype=torch.float64)).half())
    assert torch.equal(biper_weights(w, 1e4), torch.sign(s))
    assert torch.equal(BiPer(1e4).signs(w), torch.sign(s))   # the export packs the forward's signs
    assert math.isfinite(quantization_error(w, 1e4))
    assert BiPer(1e4, tau=1.).penalty(w).dtype == torch.float32

@pytest.mark.parametrize('latent, freq, msg', [
    (torch.tensor([1.], dtype=torch.float16), 1e5, r'freq=100000 .* beyond the largest torch\.float16 number'),
    (torch.tensor([1., .5]), 1e300, r'freq=1e\+300 .* beyond the largest torch\.float32 number')])
def test_biper_refuses_overflow(latent, freq, msg):
    with pytest.raises(ValueError, match=msg): biper_weights(latent, freq)
    with pytest.raises(ValueError, match=msg): BiPer(freq, tau=1.).penalty(latent)
    out = biper_weights(torch.tensor([math.nan, 1.], dtype=latent.dtype), 20.)   # a NaN latent (a diverged run) is not refused: NaN weight
    assert math.isnan(out[0]) and out[1] == 1.

def test_biper_binarize_setter_checks():
    b = BiPer()
    with pytest.raises(ValueError, match="binarize must be True or False, got 'no'"): b.binarize = 'no'
    assert b.binarize is True and bool(b.binarized)
    b.binarize = False; assert b.binarize is False and not bool(b.binarized)

def test_biper_penalty_of_no_weights_is_refused():
    "As quantization_error: the mean of no weights is undefined (was NaN)."
    with pytest.raises(ValueError, match=r'latent must have at least one weight .* got shape \(0,\)'): BiPer(tau=.1).penalty(torch.zeros(0))
    assert BiPer(tau=0.).penalty(torch.zeros(0)) is None

# --- 5. sbn-train's per-stage accuracy

STAGES = json.dumps([{'name': 'a', 'epochs': 1}, {'name': 'b', 'epochs': 1}])

@pytest.mark.parametrize('estimator, key, which', [('st:deterministic=true', 'test_det_acc', 'deterministic'),
                                                   ('st', 'test_acc', 'expected')])
def test_stage_line_names_its_accuracy(tmp_path, capsys, estimator, key, which):
    "A deterministic run prints the deterministic accuracy per stage, a sampled one the expected accuracy; the line says which."
    out_dir = tmp_path / 'run'
    code, out, err = sbn_train(capsys, '--estimator', estimator, '--stages', STAGES, '--n-train', '128', '--val', '64',
                               '--n-test', '64', '--batch-size', '32', '--eval-samples', '2', '--threads', '1', '--quiet',
                               '--out', str(out_dir))
    assert code == 0, err
    stages = json.loads((out_dir / 'result.json').read_text())['stages']
    line = next(l for l in out.splitlines() if l.startswith('test accuracy by stage'))
    assert line.startswith(f'test accuracy by stage ({which}'), line
    assert line.endswith(', '.join(f"{k} {v[key]:.4f}" for k, v in stages.items())), (line, stages)

FASHION = Path('/usr/share/datasets/fashion-mnist')

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist')
def test_biper_stage_line_is_deterministic(tmp_path, capsys):
    "The reviewer's run: BiPer's two stages with a deterministic ApproxSign print test_det_acc per stage, as the final-model line does."
    out_dir = tmp_path / 'bp1'
    code, out, err = sbn_train(capsys, '--data', 'fashion_mnist', '--model', 'fmnist_biper_conv:freq=20,width=4,tau=0.05',
                               '--estimator', 'approx_sign:deterministic=true', '--stages',
                               json.dumps([{'name': 'sine', 'epochs': 1}, {'name': 'square', 'transform': 'biper_binarize', 'epochs': 1}]),
                               '--n-train', '128', '--val', '64', '--n-test', '64', '--batch-size', '32', '--threads', '1', '--quiet',
                               '--out', str(out_dir))
    assert code == 0, err
    stages = json.loads((out_dir / 'result.json').read_text())['stages']
    line = next(l for l in out.splitlines() if l.startswith('test accuracy by stage'))
    assert '(deterministic' in line and line.endswith(f"square {stages['square']['test_det_acc']:.4f}"), line
