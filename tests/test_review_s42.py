"Session 42's fixes: the temperatures of the Gumbel-family page bounded like Concrete's, QuantMLP slices, plugin file names."
import dataclasses, json, math, re, pytest, torch
from torch import nn
from sbn_estimators.gumbel_family import ReinMax, GST, GumbelRao, DecoupledST
from sbn_estimators.binaryduo import QuantMLP
from sbn_estimators.estimators import load_plugins

TEMPERATURES = [(ReinMax, 'tau'), (GST, 'tau'), (GumbelRao, 'tau'), (DecoupledST, 'tau_forward'), (DecoupledST, 'tau_backward')]

@pytest.mark.parametrize('cls, name', TEMPERATURES)
@pytest.mark.parametrize('value', [1e-50, 1e-4, 1e4, 1e300])
def test_temperatures_out_of_range_refused(cls, name, value):
    "tau=1e-50 gave NaN gradients in float32 for all four estimators (0/tau with tau rounded to 0); 1e-8 gave inf in float16."
    with pytest.raises(ValueError, match=rf"{name} must be a number in \[0.001, 1000\], got {re.escape(repr(value))}"): cls(**{name: value})

@pytest.mark.parametrize('cls, name', TEMPERATURES)
@pytest.mark.parametrize('value', [1e-3, 1e3])
@pytest.mark.parametrize('dt', [torch.float16, torch.bfloat16, torch.float32])
def test_temperatures_at_the_ends_of_the_range_are_finite(cls, name, value, dt):
    torch.manual_seed(0)
    a = torch.tensor([-3., -0.5, 0., 0.5, 3.], dtype=dt).repeat(50).requires_grad_()
    y = cls(**{name: value})(a)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(a.grad).all()

def test_quantmlp_slices_are_sequentials():
    "QuantMLP[:2] raised 'sizes must be at least [n_in, n_1, n_out]' (nn.Sequential rebuilds the subclass from an OrderedDict)."
    torch.manual_seed(0)
    net = QuantMLP([4, 5, 6, 3]).eval()
    x = torch.randn(7, 4)
    features, head = net[:-1], net[-1]
    assert type(features) is nn.Sequential and len(features) == 6 and features[0] is net[0]
    assert torch.equal(head(features(x)), net(x))
    assert list(net[3:].state_dict()) == [k for k in net.state_dict() if int(k.split('.')[0]) >= 3]   # the parent's keys, as nn.Sequential keeps them

def test_plugin_file_with_uppercase_suffix(tmp_path, monkeypatch):
    "'KB.PY' was taken for the module name 'KB' ('no module named KB; give ... a .py file') although it is a file."
    (tmp_path / 'KB.PY').write_text('')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"plugin 'KB.PY': a plugin file's name must end in '.py' \(lowercase\)"): load_plugins('KB.PY')


def _scores_by_rate(cfg, out=None, callbacks=(), progress=False):
    "A stub trainer whose sampled and deterministic accuracies prefer different rates."
    for cb in callbacks: cb(1, dict(epoch=1, val_loss=1., val_acc=cfg.lr, val_ens_acc=cfg.lr, val_det_acc=-cfg.lr))

@pytest.mark.parametrize('estimator, metric, lr', [('st', 'val_acc', 1e-2), ('st:deterministic=true', 'val_det_acc', 1e-3)])
def test_search_scores_by_the_accuracy_best_pt_is_chosen_on(estimator, metric, lr):
    "search_lr scored a deterministic network by its sampled accuracy (val_acc) unless told otherwise, unlike the trainer's best.pt."
    from sbn_estimators.train import TrainConfig, selection_metric
    from sbn_estimators.lr_search import search_lr, run_comparison
    cfg = TrainConfig(data='digits', estimator=estimator, device='cpu')
    assert selection_metric(cfg) == metric
    rec = search_lr(cfg, (1e-3, 1e-2), train_fn=_scores_by_rate)
    assert (rec['metric'], rec['lr']) == (metric, lr)
    assert search_lr(cfg, (1e-3, 1e-2), metric='val_acc', train_fn=_scores_by_rate)['lr'] == 1e-2   # an explicit metric is kept

def test_selection_metric_follows_the_model():
    "A binary conv net is scored deterministically when its activations are deterministic; BinaryDuo's quantisers sample nothing."
    from sbn_estimators.train import TrainConfig, selection_metric
    conv = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', device='cpu')
    assert [selection_metric(dataclasses.replace(conv, estimator=e)) for e in ('st:deterministic=true', 'st')] == ['val_det_acc', 'val_acc']
    assert selection_metric(TrainConfig(data='digits', model='duo_mlp', device='cpu')) == 'val_acc'


def test_search_table_refuses_unfinished_and_bad_labels(tmp_path):
    from sbn_estimators.lr_search import search_table
    (tmp_path / 'm').mkdir(); (tmp_path / 'm' / 'lr_search.json').write_text('{"trials": []}')
    with pytest.raises(ValueError, match="is not finished"): search_table(tmp_path, ['m'])
    with pytest.raises(ValueError, match="labels must list method labels, got 'm'"): search_table(tmp_path, 'm')
    with pytest.raises(ValueError, match="labels must name at least one method"): search_table(tmp_path, [])


def test_exact_loss_under_vmap_and_grad():
    "exact_loss's finiteness check read values inside torch.func.vmap (page 04a's smoothed loss): 'data-dependent control flow'."
    from torch.func import vmap, grad
    from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
    from sbn_estimators.exact import exact_loss
    X, Y = cos_data()
    net = init_sbn_(SBNMLP([2, 3, 3, 1]).double(), X[:8].double(), seed=0)
    x, y = X[:8].double(), Y[:8].double()
    flat = [t.detach() for pair in net.layer_params() for t in pair]
    def loss_at(*ps): return exact_loss(net, x, y, params=[(ps[2 * j], ps[2 * j + 1]) for j in range(len(ps) // 2)])
    pts = [t.unsqueeze(0).repeat(3, *[1] * t.ndim) for t in flat]
    assert torch.allclose(vmap(loss_at)(*pts), loss_at(*flat).expand(3))
    g = vmap(grad(loss_at, argnums=tuple(range(len(flat)))))(*pts)
    assert all(torch.isfinite(t).all() for t in g)
    with pytest.raises(ValueError, match='non-finite'): loss_at(*[flat[0] * float('nan')] + flat[1:])   # outside a transform it still refuses


def test_smoke_data_of_a_plugin_dataset_without_files(monkeypatch):
    "A plugin dataset whose files are missing gave KeyError (no format to generate) after a note that generated data would be used."
    from sbn_estimators.data import DATASETS
    from sbn_estimators.train import TrainConfig, smoke_data
    def toy(seed=0, val=0.1, root='nowhere'): raise FileNotFoundError(f"no toy files in {root}")
    monkeypatch.setitem(DATASETS, 'toy', toy)
    with pytest.raises(FileNotFoundError, match='no toy files'): smoke_data(TrainConfig(data='toy', model='sbn_mlp', device='cpu'))

def test_selection_metric_leaves_the_random_state():
    "selection_metric built (and initialised) a network with the caller's random numbers."
    from sbn_estimators.train import TrainConfig, selection_metric
    torch.manual_seed(0); want = torch.rand(3)
    torch.manual_seed(0); selection_metric(TrainConfig(data='digits', device='cpu')); got = torch.rand(3)
    assert torch.equal(want, got)
    with pytest.raises(ValueError, match='cfg must be a TrainConfig, got NoneType'): selection_metric(None)

def _no_training(*a, **k): raise AssertionError('no trial should train')

def test_search_lr_checks_before_training(tmp_path):
    "A file as `out` was found only after the first trial had trained; a one-rate grid resolved (and loaded data for) a metric it never uses."
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import search_lr
    cfg = TrainConfig(data='digits', device='cpu')
    (tmp_path / 'afile').write_text('')
    with pytest.raises(ValueError, match='is an existing file, not a folder'): search_lr(cfg, (1e-3, 1e-2), out=tmp_path / 'afile', train_fn=_no_training)
    assert search_lr(cfg, (1e-3,), train_fn=_no_training)['metric'] is None
    with pytest.raises(ValueError, match='cfg must be a TrainConfig, got dict'): search_lr({'data': 'digits'}, (1e-3,))

def test_a_nan_validation_loss_is_a_diverged_trial():
    "A trial with a NaN validation loss but a finite accuracy (argmax of NaN logits) could be chosen."
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import search_lr
    def stub(cfg, out=None, callbacks=(), progress=False):
        for cb in callbacks: cb(1, dict(epoch=1, val_loss=math.nan if cfg.lr == 1. else 1., val_acc=0.9 if cfg.lr == 1. else 0.8))
    rec = search_lr(TrainConfig(data='digits', device='cpu'), (1e-2, 1.), metric='val_acc', train_fn=stub)
    assert rec['lr'] == 1e-2 and rec['trials'][1]['score'] is None

@pytest.mark.parametrize('kw, msg', [
    (dict(methods={'st': 'st'}), r"methods\['st'\] must be a dict of TrainConfig fields"),
    (dict(methods=['st']), 'methods must be a non-empty dict'),
    (dict(methods={}), 'methods must be a non-empty dict'),
    (dict(grids={'st': 1e-3}), r"grids\['st'\] must be a list of learning rates"),
    (dict(base={'data': 'digits'}), 'base must be a TrainConfig, got dict'),
])
def test_run_comparison_argument_errors(kw, msg, tmp_path):
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import run_comparison
    args = dict(base=TrainConfig(data='digits', device='cpu'), methods={'st': {}}, out=tmp_path, train_fn=_no_training, log=None) | kw
    with pytest.raises(ValueError, match=msg): run_comparison(**args)

def _record(path, **kw):
    path.mkdir(parents=True)
    rec = dict(config={}, grid=[1e-3, 1e-2], epochs=1, metric='val_acc', trials=[dict(lr=1e-3, score=0.5), dict(lr=1e-2, score=0.4)], lr=1e-3) | kw
    (path / 'lr_search.json').write_text(json.dumps(rec))

def test_search_table_odd_records(tmp_path):
    "A NaN score (records before scores were null) showed as nan%; damaged records, repeated labels and rates printed alike were not caught."
    from sbn_estimators.lr_search import search_table
    _record(tmp_path / 'old', trials=[dict(lr=1e-3, score=0.5), dict(lr=1e-2, score=math.nan)])
    assert search_table(tmp_path, ['old']).splitlines()[2] == '| old | val_acc | **50.0%** | diverged |'
    _record(tmp_path / 'nometric'); rec = json.loads((tmp_path / 'nometric' / 'lr_search.json').read_text()); del rec['metric']
    (tmp_path / 'nometric' / 'lr_search.json').write_text(json.dumps(rec))
    with pytest.raises(ValueError, match='is damaged'): search_table(tmp_path, ['nometric'])
    _record(tmp_path / 'badtrial', trials=[[1e-3, 0.5]])
    with pytest.raises(ValueError, match='is damaged'): search_table(tmp_path, ['badtrial'])
    with pytest.raises(ValueError, match="labels lists \\['old'\\] more than once"): search_table(tmp_path, ['old', 'old'])
    _record(tmp_path / 'close', grid=[1e-3, 1.0000001e-3], trials=[dict(lr=1e-3, score=0.5), dict(lr=1.0000001e-3, score=0.4)])
    assert search_table(tmp_path, ['close']).splitlines()[0] == '| method | scored by | 0.001 | 0.0010000001 |'

@pytest.mark.parametrize('proxy', ['mean_field', 'progressive_sign'])   # a sampling one ('concrete') is refused since review s44
def test_quantize_takes_any_local_backward(proxy):
    "Since the mismatch page refused proxies whose forward is not sign(a), BinaryDuo's Quantize refused them too, though it uses only their backward."
    from sbn_estimators.binaryduo import Quantize
    from sbn_estimators.mismatch import proxy_estimator
    torch.manual_seed(0)
    y = torch.randn(50, requires_grad=True)
    out = Quantize(1, proxy=proxy)(y)
    assert set(out.detach().tolist()) <= {0., 1.}
    out.sum().backward(); assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=f"proxy '{proxy}'"): proxy_estimator(proxy)


def test_gradient_report_takes_an_ordinary_float32_network():
    "The rounding check refused a random float32 network (layer-0 norm 0.0069 against a worst-case bound of 0.0076), whose float32 gradient is 5e-6 off float64."
    from sbn_estimators.sbn import SBNMLP
    from sbn_estimators.gradeval import gradient_report
    torch.manual_seed(0)
    net = SBNMLP([20, 4, 6, 10], loss='cross_entropy', dtype=torch.float32)
    X, Y = torch.randn(2048, 20), torch.randint(0, 10, (2048,))
    rep = gradient_report(net, X, Y, 'st', samples=4, progress=False)
    assert set(rep['exact_grad']) == {'layer-0', 'layer-1', 'layer-2'} and 'st' in rep['estimators']
    with torch.no_grad(): net.layers[-1].weight.zero_()   # the head ignores the binary units: layers 0 and 1 have no gradient at all
    with pytest.raises(ValueError, match=r"layer-0 \(norm .*\) and layer-1 .* zero up to the rounding of float64 \(the torch.float32 network checked again in float64\)"):
        gradient_report(net, X, Y, 'st', samples=4, progress=False)


@pytest.mark.parametrize('spec', ['psa', 'double_cv', 'ugc'])   # network-level estimators (local ones are nn.Modules: torch's own load_state_dict)
@pytest.mark.parametrize('state', [None, [('a', 1)], 3])
def test_every_estimator_refuses_a_state_that_is_not_a_dict(spec, state):
    "Only pages 08/09a/18a refused a non-dict state; psa and double_cv took None silently, others raised TypeError."
    from sbn_estimators.estimators import estimator
    with pytest.raises(ValueError, match=f"state must be a dict \\(what state_dict\\(\\) gives\\), got {type(state).__name__}"):
        estimator(spec).load_state_dict(state)

def test_mismatch_refuses_a_sampling_own_proxy_up_front():
    "A BinaryDuo unit with a sampling proxy passed the up-front check and failed inside vmap with a message naming no unit. Since review s44 such a unit cannot be built."
    from sbn_estimators.binaryduo import QuantMLP, Quantize
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"proxy 'concrete' samples \(stochastic\)"): QuantMLP([4, 6, 3], act=lambda: Quantize(1, proxy='concrete'))
