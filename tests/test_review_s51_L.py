"""Review s51 (fixL): evaluation samples the network that was trained.

1. `BinaryActivation` in its 'sample' evaluation mode draws the ±1 states with the law of the estimator's training forward
   (`LocalEstimator.eval_sample`), for every local estimator at non-default hyper-parameters. Old: it drew sign(a - Z) for
   every estimator, so `decoupled_st:tau_forward=3` (forward sign(a/3 - Z)) was evaluated as another network.
2. An SBN model evaluates by sampling its own units, sign(a - Z): `check_compatible` (hence `get_model` and `sbn-train`)
   refuses a local estimator whose forward draws another law (`sbn_eval_conflict`); `sbn-gradeval`, which evaluates
   nothing, still takes it.
3. `binary_eval_mode` refuses an SBN model (old: it did nothing, and `model(x)` kept sampling under 'det').

Tolerances come from the sample counts (`z_threshold`), all draws from fixed seeds."""
import inspect, math
import pytest, torch
from sbn_estimators.estimators import ESTIMATORS, ALIASES, LocalEstimator, estimator, _init_params
from sbn_estimators.layers import BinaryActivation, binary_eval_mode, local_estimators
from sbn_estimators.models import check_compatible, get_model, list_models, MODELS
from sbn_estimators.stats import z_threshold
from sbn_estimators.straight_through import sign_pm
import sbn_estimators.train   # registers every module's estimators
from conftest import sbn_train

torch.set_num_threads(1)

# 1. evaluation samples with the training forward's law
OVERRIDES = {'tau': 3.0, 'tau_forward': 3.0, 'tau_backward': 0.5, 'noise': 'normal'}   # non-default where the estimator has them


def _spec(name):
    "`name` with every parameter of OVERRIDES it takes, written as a spec."
    params = _init_params(ESTIMATORS[ALIASES.get(name, name)])
    kv = ','.join(f'{k}={v}' for k, v in OVERRIDES.items() if k in params)
    return f'{name}:{kv}' if kv else name


SAMPLED = [n for n in local_estimators() if BinaryActivation(n).eval_mode == 'sample']
POINTS = torch.tensor([-1.5, -0.4, 0.3, 1.2])
N = 100_000


def _state_mean(out):
    "E[x] per point of one training forward [N, P]: ±1 samples and relaxed samples by their sign; a deterministic output (mean-field's E[x]) as it is."
    if ((out == 1) | (out == -1)).all(): return out.mean(0)
    if (out == out[:1]).all(): return out[0]
    return torch.sign(out).mean(0)


def test_the_family_is_covered():
    assert 'decoupled_st' in SAMPLED and len(SAMPLED) >= 15, SAMPLED


@pytest.mark.parametrize('name', SAMPLED)
def test_eval_sample_has_the_training_law(name):
    """E[x | a] in training and in 'sample' evaluation agree at four points (two-sample z, Bonferroni over the family);
    old: decoupled_st:tau_forward=3 gave tanh(a/6) in training and tanh(a/2) in evaluation (|z| > 10)."""
    spec = _spec(name)
    act = BinaryActivation(spec)
    torch.manual_seed(0)
    a = POINTS.expand(N, -1).clone()
    with torch.no_grad():
        m_train = _state_mean(act.train()(a))
        m_eval = act.eval()(a).mean(0)
    pooled = ((m_train + m_eval) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
    z = (m_train - m_eval) / torch.sqrt((1 - pooled ** 2) * 2 / N)
    t = z_threshold(len(POINTS) * len(SAMPLED))
    assert z.abs().max() < t, f"{spec}: training E[x] {m_train.tolist()}, evaluation {m_eval.tolist()}, max |z| {z.abs().max():.1f} >= {t:.2f}"


def test_decoupled_st_evaluates_its_tempered_law():
    "The review's case: P(+1) = sigmoid(a/3) in evaluation, not sigmoid(a)."
    torch.manual_seed(0)
    act = BinaryActivation('decoupled_st:tau_forward=3').eval()
    m = act(torch.full((400_000,), 0.7)).mean().item()
    assert abs(m - math.tanh(0.7 / 6)) < 5 / math.sqrt(400_000), m
    x = act(torch.tensor([0.5, -0.5], dtype=torch.float16))
    assert x.dtype == torch.float16 and set(x.tolist()) <= {-1., 1.}
    assert torch.isnan(act(torch.tensor([float('nan')]))).all()   # as sample_states: a NaN unit is not a confident state


def test_eval_sample_default_is_sample_states():
    "A local estimator that does not override `eval_sample` draws sign(a - Z) with its noise: the draws of `sample_states`."
    from sbn_estimators.core import sample_states
    est = estimator('st:noise=normal')
    a = torch.randn(1000)
    torch.manual_seed(3); x1 = est.eval_sample(a)
    torch.manual_seed(3); x2 = sample_states(a, 'normal')
    assert torch.equal(x1, x2) and est.sbn_eval_conflict() == ''


# 2. SBN models refuse an estimator whose evaluation law is not the SBN unit's
SBN_MODELS = [n for n in list_models() if MODELS[n].kind == 'sbn']


@pytest.mark.parametrize('model', SBN_MODELS)
def test_check_compatible_refuses_tempered_decoupled_st_for_sbn_models(model):
    with pytest.raises(ValueError, match=r"tau_forward=3 samples its units with sigmoid\(a/3\) but an SBN model is evaluated with "
                                         r"sigmoid\(a\): give tau_forward=1, or a layered model \(.*resnet20"):
        check_compatible('decoupled_st:tau_forward=3', model)
    with pytest.raises(ValueError, match=r'tau_forward=0.5 samples its units with sigmoid\(a/0.5\)'):
        check_compatible(estimator('decoupled_st', tau_forward=0.5), model)
    check_compatible('decoupled_st', model)                                    # tau_forward = 1: the SBN unit's own law
    check_compatible('decoupled_st:tau_forward=1.0,tau_backward=3', model)


def test_get_model_refuses_and_layered_models_accept():
    with pytest.raises(ValueError, match=r"cannot train model 'sbn_mlp': tau_forward=3"):
        get_model('sbn_mlp', 'decoupled_st:tau_forward=3', in_shape=(8,))
    assert get_model('sbn_mlp', 'decoupled_st', in_shape=(8,)) is not None
    m = get_model('fmnist_bnn_conv', 'decoupled_st:tau_forward=3', in_shape=(1, 28, 28))
    acts = [u for u in m.modules() if isinstance(u, BinaryActivation)]
    assert acts and all(u.est.tau_forward == 3 for u in acts)


def test_a_plugin_overriding_eval_sample_is_refused_for_sbn_models_by_default():
    "An estimator that draws its evaluation states otherwise and says nothing more: refused for SBN models, in general words."
    from sbn_estimators.straight_through import ST
    class Tempered(ST):
        def eval_sample(self, a): return super().eval_sample(a / 2)
    assert 'Tempered.eval_sample' in Tempered().sbn_eval_conflict()
    with pytest.raises(ValueError, match=r"Tempered.eval_sample"): check_compatible(Tempered(), 'sbn_mlp')


def test_sbn_train_refuses_in_one_line(capsys):
    code, out, err = sbn_train(capsys, '--model', 'sbn_mlp', '--estimator', 'decoupled_st:tau_forward=3', '--smoke')
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith('sbn-train: error: '), err
    assert 'tau_forward=3 samples its units with sigmoid(a/3)' in lines[0] and 'give tau_forward=1' in lines[0], err
    assert 'Traceback' not in err


@pytest.mark.parametrize('model,est', [('sbn_mlp', 'decoupled_st:tau_forward=1'), ('fmnist_bnn_conv', 'decoupled_st:tau_forward=3')])
def test_sbn_train_accepts(capsys, model, est):
    args = ['--model', model, '--estimator', est, '--smoke'] + (['--data', 'fashion_mnist'] if model.startswith('fmnist') else [])
    code, out, err = sbn_train(capsys, *args)
    assert code == 0, err


def test_sbn_gradeval_still_takes_tempered_decoupled_st(tmp_path, monkeypatch, capsys):
    "Gradient accuracy on an SBN evaluates no network: any tau_forward is legitimate there."
    from sbn_estimators.gradeval import gradeval_cli
    monkeypatch.chdir(tmp_path)
    gradeval_cli(['--epochs', '0', '--estimators', 'exact,decoupled_st:tau_forward=3', '--samples', '100', '--no-progress'])
    assert 'decoupled_st:tau_forward=3' in capsys.readouterr().out and (tmp_path / 'gradeval.json').exists()


# 3. binary_eval_mode refuses an SBN model
@pytest.mark.parametrize('mode', ['det', 'sample'])
def test_binary_eval_mode_refuses_sbn_models(mode):
    "Old: the block did nothing on an SBN model, whose model(x) kept sampling under 'det'."
    m = get_model('sbn_mlp', 'st', in_shape=(8,))
    for net in (m, torch.compile(m)):
        with pytest.raises(ValueError, match=r"SBNMLP is an SBN model.*model\(x, sign_pm\)"):
            with binary_eval_mode(net, mode): pass
    x = torch.randn(5, 8)
    assert torch.equal(m(x, sign_pm), m(x, sign_pm))   # the deterministic evaluation the message points to


def test_binary_eval_mode_still_switches_layered_models():
    m = get_model('fmnist_bnn_conv', 'st', in_shape=(1, 28, 28)).eval()
    acts = [u for u in m.modules() if isinstance(u, BinaryActivation)]
    with binary_eval_mode(m, 'det'): assert all(u.eval_mode == 'det' for u in acts)
    assert all(u.eval_mode == 'sample' for u in acts)


def test_binary_weights_evaluate_with_the_binarizers_training_law():
    "A `decoupled_st:tau_forward=3` weight binarizer trains with P(w_b = +1) = sigmoid(w/3): evaluation samples the same law (it sampled sigmoid(w))."
    from sbn_estimators.binary_weights import BinaryWeightLinear
    torch.manual_seed(0)
    layer = BinaryWeightLinear(1, 200000, bias=False, binarize=estimator('decoupled_st:tau_forward=3'))
    with torch.no_grad(): layer.weight.fill_(0.7)
    x = torch.ones(1, 1)
    with torch.no_grad():
        train = layer(x).mean().item()
        layer.eval(); ev = layer(x).mean().item()
    target = math.tanh(0.7 / 6)   # E[2 Bernoulli(sigmoid(0.7/3)) - 1]
    tol = z_threshold(2) * 1 / math.sqrt(200000)   # the sd of a ±1 mean is at most 1/sqrt(n)
    assert abs(train - target) < tol and abs(ev - target) < tol, (train, ev, target)
