"Review s43 (fixC): `sbn-train --optimizer mirror_descent` (MirrorDescent of page 07 on the latent weights, Adam on the rest); selection_metric without reading an image dataset; the search's divergence rule follows its metric's network."
import csv, json, math, re
from pathlib import Path
import pytest, torch
from torch import nn
from conftest import sbn_train

torch.set_num_threads(1)
FASHION = Path('/usr/share/datasets/fashion-mnist')


@pytest.fixture
def bw_linear():
    "A tiny registered model with binary weights that reads the digits (64 flat inputs): one BinaryWeightLinear and batch norm."
    from sbn_estimators.models import MODELS, register_model
    from sbn_estimators.binary_weights import BinaryWeightLinear
    def bw_linear_s43(est=None, in_shape=(64,), n_out=10, deterministic:bool=True):
        return nn.Sequential(BinaryWeightLinear(in_shape[0], n_out, bias=False, deterministic=deterministic), nn.BatchNorm1d(n_out))
    register_model('bw_linear_s43', 'layered', (None,), 'digits', 'test model')(bw_linear_s43)
    yield 'bw_linear_s43'
    MODELS.pop('bw_linear_s43', None)


def _interrupt_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

def _result(out):
    r = json.loads((out / 'result.json').read_text())
    return {k: v for k, v in r.items() if k not in ('seconds_per_epoch', 'environment')}

def _metrics(out):
    return [l.rsplit(',', 1)[0] for l in (out / 'metrics.csv').read_text().splitlines()]   # all columns but the timing


def test_mirror_descent_is_listed():
    from sbn_estimators.train import OPTIMIZERS, OPTIMIZER_PARAMS, list_text
    assert 'mirror_descent' in OPTIMIZERS and OPTIMIZER_PARAMS['mirror_descent'] == {'weight_decay': 0., 'clip': None}
    assert '  mirror_descent: weight_decay=0.0, clip=None' in list_text()


def test_mirror_descent_settings_are_checked():
    from sbn_estimators.train import TrainConfig
    with pytest.raises(ValueError, match="optimizer 'mirror_descent' has no default learning rate; give lr"): TrainConfig(optimizer='mirror_descent')
    for spec, msg in (('mirror_descent:gamma=1', "optimizer 'mirror_descent' has no parameter gamma; valid parameters: weight_decay=0.0, clip=None"),
                      ('mirror_descent:clip=0', 'clip (param group 0) must be a positive number or None, got 0'),
                      ('mirror_descent:weight_decay=20', 'lr * weight_decay (param group 0) must be below 1')):
        with pytest.raises(ValueError, match=re.escape(msg)): TrainConfig(optimizer=spec, lr=0.1)
    assert TrainConfig(optimizer='mirror_descent:clip=1,weight_decay=1e-4', lr=0.1).lr == 0.1


def test_mirror_descent_refuses_a_model_without_binary_weights(capsys):
    code, _, err = sbn_train(capsys, '--optimizer', 'mirror_descent', '--lr', '0.1', '--epochs', '1', '--quiet')
    assert code == 2 and err.strip().count('\n') == 0, err
    assert "optimizer 'mirror_descent' trains binary weights and model 'sbn_mlp' has none; models with binary weights: fmnist_bnn_conv, resnet20" in err


def test_make_optimizer_steps_latents_by_mirror_descent_and_the_rest_by_adam():
    "The latents take MirrorDescent's clipped step, the bias Adam's (bit for bit); sampled weights train; BiPer's own signs are refused."
    from sbn_estimators.train import TrainConfig, make_optimizer
    from sbn_estimators.binary_weights import BinaryWeightLinear, MirrorDescent
    from sbn_estimators.biper import BiPer
    cfg = TrainConfig(optimizer='mirror_descent:clip=0.3,weight_decay=0.5', lr=0.05, weight_decay=0.1)
    torch.manual_seed(0)
    net, ref = nn.Sequential(BinaryWeightLinear(5, 3)), nn.Sequential(BinaryWeightLinear(5, 3))
    ref.load_state_dict(net.state_dict())
    opt = make_optimizer(net, cfg, 100)
    refs = [MirrorDescent([ref[0].weight], lr=0.05, weight_decay=0.5, clip=0.3), torch.optim.Adam([ref[0].bias], lr=0.05, weight_decay=0.1)]
    for _ in range(4):
        x = torch.randn(8, 5)
        opt.zero_grad(); net(x).square().sum().backward(); opt.step()
        for o in refs: o.zero_grad()
        ref(x).square().sum().backward()
        for o in refs: o.step()
    assert torch.equal(net[0].weight, ref[0].weight) and torch.equal(net[0].bias, ref[0].bias)
    make_optimizer(nn.Sequential(BinaryWeightLinear(4, 3, deterministic=False)), cfg, 100)   # Bernoulli samples: their logits are what it steps
    with pytest.raises(ValueError, match=r"optimizer 'mirror_descent' treats each latent binary weight as the logit of its sign, but layer '0' binarizes with BiPer"):
        make_optimizer(nn.Sequential(BinaryWeightLinear(4, 3, binarize=BiPer())), cfg, 100)


def test_mirror_descent_run_resumes_exactly(tmp_path, bw_linear):
    "An interrupted and resumed run writes the same result.json (and metrics, weights) as an uninterrupted one; the latents stay clipped."
    from sbn_estimators.train import TrainConfig, train, load_checkpoint
    cfg = TrainConfig(data='digits', model=bw_linear, optimizer='mirror_descent:clip=1,weight_decay=0.01', lr=0.3, epochs=3,
                      weight_decay=1e-3, eval_samples=1, seed=1, device='cpu')
    full = train(cfg, tmp_path / 'a', progress=False)
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(1)], progress=False)
    assert load_checkpoint(tmp_path / 'b' / 'last.pt')['epoch'] == 1
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)
    assert _result(tmp_path / 'a') == _result(tmp_path / 'b') and _metrics(tmp_path / 'a') == _metrics(tmp_path / 'b')
    for (k, p), q in zip(full['model'].state_dict().items(), resumed['model'].state_dict().values()): assert torch.equal(p, q), k
    assert full['model'][0].weight.abs().max() <= 1 and full['test_det_acc'] > 0.5   # it learns (chance: 0.1)
    st = load_checkpoint(tmp_path / 'a' / 'last.pt')['optimizer']
    assert [sorted(s) for s in st['state'].values()] == [['exp_avg', 'exp_avg_sq', 'step']] * 2   # Adam's moments of the batch norm's two parameters


def test_mirror_descent_trains_sampled_weights(bw_linear):
    from sbn_estimators.train import TrainConfig, train
    "Bop and BayesBiNN refuse layers that forward a Bernoulli sample of their weights; mirror descent steps those logits and learns."
    cfg = TrainConfig(data='digits', model=f'{bw_linear}:deterministic=false', optimizer='mirror_descent:clip=3', lr=3., epochs=3,
                      eval_samples=4, device='cpu')
    rows = []
    res = train(cfg, callbacks=[lambda e, r: rows.append(r)], progress=False)
    assert rows[-1]['train_loss'] < math.log(10) / 2 and res['test_det_acc'] > 0.5


@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_mirror_descent_fashion_conv_resumes(tmp_path):
    "The registered binary conv net (batch norm, a real-valued head): same result.json interrupted and resumed."
    from sbn_estimators.train import TrainConfig, train
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true',
                      optimizer='mirror_descent:clip=1', lr=0.05, epochs=2, n_train=256, val=64, n_test=128, batch_size=64,
                      eval_samples=1, seed=0, device='cpu')
    train(cfg, tmp_path / 'a', progress=False)
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(1)], progress=False)
    train(cfg, tmp_path / 'b', resume=True, progress=False)
    assert _result(tmp_path / 'a') == _result(tmp_path / 'b')


def test_run_references_of_mirror_descent():
    from sbn_estimators.catalogue import run_references
    from sbn_estimators.catalogue import OPTIMIZER_REFS
    assert OPTIMIZER_REFS['mirror_descent'] == ('shekhovtsov2021st', 'courbariaux2015binaryconnect')
    md, sgd = run_references('reinforce', 'sbn_mlp', 'mirror_descent', 'digits'), run_references('reinforce', 'sbn_mlp', 'sgd', 'digits')
    assert md == sgd[:3] + ['shekhovtsov2021st', 'courbariaux2015binaryconnect'] + sgd[3:]


@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_selection_metric_reads_no_image_files(monkeypatch):
    "selection_metric loaded Fashion-MNIST (seconds) only to build the network; the format alone builds the same one."
    import sbn_estimators.train as T
    cfgs = [T.TrainConfig(data='fashion_mnist', model=m, estimator=e, device='cpu') for m, e in
            (('fmnist_bnn_conv:width=8', 'st:deterministic=true'), ('fmnist_bnn_conv:width=8', 'st'), ('sbn_mlp:width=8', 'st'),
             ('duo_mlp', 'clipped_st'))]
    want = [T.selection_metric(c) for c in cfgs]
    assert want == ['val_det_acc', 'val_acc', 'val_acc', 'val_acc']
    for c in cfgs:   # the network built from the format is the one built from the files
        torch.manual_seed(0); a = T.build(c, T.load_data(c))[0].state_dict()
        torch.manual_seed(0); b = T.build(c, T._data_format(c))[0].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    def no_files(*a, **k): raise AssertionError('selection_metric read the dataset')
    monkeypatch.setattr(T, 'load_data', no_files)
    assert [T.selection_metric(c) for c in cfgs] == want


def test_trainer_logs_the_deterministic_validation_loss(tmp_path):
    from sbn_estimators.train import TrainConfig, train, evaluate, load_data, load_run
    cfg = TrainConfig(model='sbn_mlp:width=16', estimator='st:deterministic=true', epochs=1, eval_samples=1, device='cpu')
    rows = []
    res = train(cfg, tmp_path / 'r', callbacks=[lambda e, r: rows.append(r)], progress=False)
    row = next(csv.DictReader(open(tmp_path / 'r' / 'metrics.csv')))
    assert float(row['val_det_loss']) == rows[0]['val_det_loss'] and math.isfinite(rows[0]['val_det_loss'])
    assert rows[0]['val_det_loss'] != rows[0]['val_loss']   # the deterministic network's, not the sampled one's
    assert evaluate(res['model'], load_data(cfg), 'val', samples=1)['det_loss'] == pytest.approx(rows[0]['val_det_loss'], rel=1e-6)


def test_search_divergence_follows_the_metric():
    "A trial scored by val_det_acc is diverged when the deterministic network's loss is not finite, not when the sampled network's is."
    from sbn_estimators.train import TrainConfig
    from sbn_estimators.lr_search import search_lr
    nan = float('nan')
    def stub(cfg, out=None, callbacks=(), progress=False):   # rate 1e-2: det loss nan (finite accuracy); 1e-1: sampled loss nan
        det_loss, loss = (nan, 1.) if cfg.lr == 1e-2 else (1., nan) if cfg.lr == 1e-1 else (1., 1.)
        for cb in callbacks: cb(1, dict(epoch=1, val_loss=loss, val_det_loss=det_loss, val_acc=cfg.lr, val_ens_acc=cfg.lr, val_det_acc=cfg.lr))
    cfg = TrainConfig(estimator='st:deterministic=true', device='cpu')
    rec = search_lr(cfg, (1e-3, 1e-2, 1e-1), metric='val_det_acc', train_fn=stub)
    assert [t['score'] for t in rec['trials']] == [1e-3, None, 1e-1] and rec['lr'] == 1e-1
    rec = search_lr(cfg, (1e-3, 1e-2, 1e-1), metric='val_acc', train_fn=stub)   # the sampled metric: the sampled loss
    assert [t['score'] for t in rec['trials']] == [1e-3, 1e-2, None] and rec['lr'] == 1e-2
