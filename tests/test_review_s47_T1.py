"Review s47 T1: no per-step host sync for the flip ratio, one per evaluation; `TrainConfig.replace`; model spec values checked at construction."
import copy, dataclasses, io, contextlib, pickle, sys
import pytest
import torch
from torch.overrides import TorchFunctionMode
from sbn_estimators.train import TrainConfig, train, evaluate, smoke_data, build
from sbn_estimators.lr_search import run_comparison
from sbn_estimators.data import get_data
from sbn_estimators.models import get_model
import sbn_estimators.binary_weights as bw

T = torch.Tensor
SYNCS = {T.item, T.__bool__, T.__float__, T.__int__, T.tolist}


class Syncs(TorchFunctionMode):
    "Counts the Python-level reads of a tensor's value (what syncs a GPU stream), by the function of the library they come from."
    def __init__(self):
        super().__init__(); self.where = []
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in SYNCS:
            f, names = sys._getframe(1), []
            while f is not None:
                if '/sbn_estimators/' in f.f_code.co_filename: names.append(f.f_code.co_name)
                f = f.f_back
            self.where.append(names)
        return func(*args, **(kwargs or {}))
    def count(self, name): return sum(name in names for names in self.where)


def _bnn_cfg(tmp_path, stages, **kw):   # a binary-weight model on generated Fashion-MNIST-format data (smoke: 2 steps per stage)
    return TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), model='fmnist_bnn_conv:width=2', estimator='st:deterministic=true',
                       batch_size=4, stages=[{'name': f's{k}'} for k in range(stages)], device='cpu', **kw)


@pytest.mark.parametrize('optimizer', ['sgd', 'bop'])
def test_flip_ratio_is_read_once_per_epoch_not_per_step(tmp_path, optimizer):
    counts = []
    for stages in (1, 3):   # 2 and 6 steps (1 and 3 epochs)
        torch.manual_seed(0)
        with contextlib.redirect_stderr(io.StringIO()), Syncs() as c:
            train(_bnn_cfg(tmp_path, stages, optimizer=optimizer, **({'lr': 0.01} if optimizer == 'bop' else {})), smoke=True, progress=False)
        counts.append(c.count('flip_ratio') + c.count('_flip_fraction'))
    assert counts == [0, 0], f"host syncs of the flip ratio with 2 and 6 steps: {counts} (it must be read with the epoch's other values)"


def test_flip_fraction_is_the_flip_ratio_on_the_device():
    g = torch.Generator().manual_seed(1)
    before = [torch.randn(7, 3, generator=g), torch.randn(5, generator=g)]
    after = [b + 0.5 * torch.randn(b.shape, generator=g) for b in before]
    t = bw._flip_fraction(before, after)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.ndim == 0
    assert bw.flip_ratio(before, after) == t.item() == sum(int((b.sign() != a.sign()).sum()) for b, a in zip(before, after)) / 26
    assert type(bw.flip_ratio(before, after)) is float


def test_evaluate_reads_once_whatever_the_batches():
    data = get_data('digits', seed=0)
    torch.manual_seed(0)
    model = get_model('sbn_mlp:width=8', 'st', in_shape=data.in_shape, n_out=data.n_out)
    counts, results = [], []
    for batch_size in (400, 50):   # 1 and 8 batches of the 359 test digits
        with Syncs() as c: results.append(evaluate(model, data, 'test', 3, batch_size=batch_size, seed=0))
        counts.append(c.count('_evaluate'))
    assert counts[0] == counts[1] == 1, f"host syncs of evaluate with 1 and 8 batches: {counts}"
    assert results[0].keys() == {'loss', 'acc', 'ens_acc', 'det_acc', 'det_loss'}


def test_evaluate_posterior_reads_once_whatever_the_batches(tmp_path):
    from sbn_estimators.train import evaluate_posterior, make_optimizer
    cfg = _bnn_cfg(tmp_path, 1, optimizer='bayesbinn', lr=0.01, posterior_samples=2)
    with contextlib.redirect_stderr(io.StringIO()): data = smoke_data(cfg)
    torch.manual_seed(0)
    model, _ = build(cfg, data)
    opt = make_optimizer(model, cfg, len(data.splits['train'][1]))
    counts, results = [], []
    for batch_size in (64, 8):
        with Syncs() as c: results.append(evaluate_posterior(model, opt, data, 'test', 2, batch_size=batch_size))
        counts.append(c.count('evaluate_posterior'))
    assert counts[0] == counts[1] == 1, f"host syncs of evaluate_posterior with 1 and 8 batches per sample: {counts}"


def test_replace_follows_the_filled_in_defaults():
    c = TrainConfig()
    assert (c.model, c.lr) == ('sbn_mlp', 0.01)
    assert c.replace(optimizer='sgd').lr == 0.1                        # dataclasses.replace keeps adam's 0.01
    assert c.replace(optimizer='bop').lr == 0.01
    cif = c.replace(data='cifar10')
    assert cif.model == 'psa_allconv' and cif.data_dir                 # the dataset's default model and folder
    assert cif.replace(data='digits').data_dir == '' and cif.replace(data='digits').model == 'sbn_mlp'
    assert c.replace(optimizer='sgd', lr=0.05).lr == 0.05              # given: stays
    assert TrainConfig(lr=0.05).replace(optimizer='sgd').lr == 0.05    # given at construction: stays
    assert TrainConfig(model='resnet20', data='cifar10').replace(data='fashion_mnist').model == 'resnet20'
    assert c.replace(seed=3).replace(optimizer='sgd').lr == 0.1       # a kept filled-in value still follows in a copy's copy
    assert c.replace(seed=3) == dataclasses.replace(c, seed=3)
    for copied in (copy.deepcopy(c), copy.copy(c), pickle.loads(pickle.dumps(c))):
        assert copied.replace(optimizer='sgd').lr == 0.1
    assert dataclasses.asdict(c) == dataclasses.asdict(dataclasses.replace(c)) and '_filled' not in dataclasses.asdict(c)
    assert [f.name for f in dataclasses.fields(TrainConfig)] == [f.name for f in dataclasses.fields(TrainConfig) if not f.name.startswith('_')]


def test_run_comparison_gives_a_method_its_own_defaults(tmp_path):
    seen = []
    def stub(cfg, out=None, callbacks=(), progress=False):
        seen.append((cfg.data, cfg.model))
        for cb in callbacks: cb(1, dict(epoch=1, train_loss=1., val_loss=1., val_acc=0.5, val_ens_acc=0.5, val_det_acc=0.5))
        return dict(test_loss=1., test_acc=0.5, test_ens_acc=0.5, test_det_acc=0.5, seconds_per_epoch=1.)
    base = TrainConfig(data='digits', epochs=1, device='cpu')
    run_comparison(base, {'cifar': dict(data='cifar10')}, tmp_path, seeds=(0,), grid=(1e-3,), train_fn=stub, log=None)
    assert set(seen) == {('cifar10', 'psa_allconv')}, seen
