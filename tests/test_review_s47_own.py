"Session 47, own fixes: the binary-weight layers' repr shows `deterministic` only where the layer uses it."
import torch
from sbn_estimators import estimator
from sbn_estimators.binary_weights import BinaryWeightLinear, BinaryWeightConv2d

def test_repr_deterministic_only_without_binarizer():
    plain = BinaryWeightLinear(3, 2, deterministic=False)
    assert 'deterministic=False' in repr(plain) and "scale='none'" in repr(plain)
    for lay in (BinaryWeightLinear(3, 2, binarize=estimator('st')), BinaryWeightConv2d(2, 2, 3, binarize=estimator('st'))):
        head = repr(lay).splitlines()[1]   # the layer's own line; the binarizer's repr follows on its own line
        assert 'deterministic' not in head and "scale='none'" in head, head
        assert 'ST(noise=' in repr(lay)

# --- the data checks' host reads (values_checked) ---
import pytest
from torch.overrides import TorchFunctionMode
from sbn_estimators.core import values_checked, check_inputs, check_targets
from sbn_estimators.sbn import SBNMLP

class _Reads(TorchFunctionMode):
    "Counts the calls that read a tensor's values back to the host (a synchronisation on a GPU)."
    READS = {torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.tolist}
    def __init__(self): super().__init__(); self.n = 0
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.READS: self.n += 1
        return func(*args, **(kwargs or {}))

@pytest.mark.parametrize('name', ['psa', 'arm', 'adf', 'local_reparam', 'reinforce'])
def test_estimator_reads_nothing_inside_values_checked(name):
    torch.manual_seed(0)
    net = SBNMLP([3, 4, 2], loss='cross_entropy')
    x, y, est = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1]), estimator(name)
    with _Reads() as outside: est.surrogate(net, x, y)
    with values_checked(), _Reads() as inside: est.surrogate(net, x, y)
    assert outside.n >= 2 and inside.n == 0, (outside.n, inside.n)

def test_adf_reads_its_inputs_once():
    net, x, y = SBNMLP([3, 4, 2], loss="cross_entropy"), torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    with _Reads() as adf: estimator('adf').surrogate(net, x, y)
    with _Reads() as psa: estimator('psa').surrogate(net, x, y)
    assert adf.n == psa.n, (adf.n, psa.n)   # the surrogate's checks; adf_moments' own check reads nothing more

def test_values_checked_is_scoped_and_keeps_metadata_checks():
    bad = torch.tensor([[float('nan'), 1.]])
    with values_checked():
        check_inputs(bad, (2,)); check_targets(torch.tensor([[3.]]), 'logistic', 1, 1)
        with pytest.raises(ValueError, match='shape'): check_inputs(bad, (3,))
    with pytest.raises(ValueError, match='non-finite'): check_inputs(bad, (2,))
    with pytest.raises(ValueError, match='must be -1 or \\+1'): check_targets(torch.tensor([[3.]]), 'logistic', 1, 1)

def test_every_surrogate_has_a_docstring():
    from sbn_estimators import list_estimators
    missing = [n for n in list_estimators() if not (estimator(n).surrogate.__doc__ or '').strip()]
    assert not missing, missing   # help(est.surrogate) says what it returns

def test_plot_report_keeps_the_callers_matplotlib_backend(tmp_path):
    import subprocess, sys, textwrap
    code = textwrap.dedent(f"""
        import matplotlib; matplotlib.use('pdf')   # a non-Agg backend the caller chose
        import torch; torch.set_num_threads(1)
        from sbn_estimators.gradeval import gradient_report, plot_report, train_toy_sbn
        net, X, Y = train_toy_sbn(epochs=1, seed=0)
        rep = gradient_report(net, X[:4], Y[:4], ['st'], samples=20, progress=False)
        plot_report(rep, {str(tmp_path / 'r.png')!r})
        print(matplotlib.get_backend())""")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == 'pdf' and (tmp_path / 'r.png').stat().st_size > 0

# --- the trainer: the training split checked once, then no host read per step for the estimators' data checks ---
def test_trainer_checks_the_training_split_once(tmp_path):
    from sbn_estimators.train import TrainConfig, train
    import sbn_estimators.train as T
    cfg = TrainConfig(data='cos', estimator='arm', epochs=1, device='cpu', n_train=64, batch_size=16)
    data = T.load_data(cfg)
    X, y = data.splits['train']; y = y.clone(); y[3] = 0   # a logistic target that is neither -1 nor +1
    bad = T.Data(data.name, {**data.splits, 'train': (X, y)}, data.n_out, data.loss, data.transform, data.augment)
    orig = T.load_data
    try:
        T.load_data = lambda cfg, download=False: bad
        with pytest.raises(ValueError, match=r"data 'cos' \(training split\): logistic targets must be -1 or \+1"):
            train(cfg, tmp_path / 'r', progress=False)
        assert not (tmp_path / 'r').exists()   # refused before the run folder is written
    finally: T.load_data = orig

def test_trainer_steps_read_no_data_values(tmp_path):
    "A network-level estimator's step reads only the trainer's own finite check: 1 read per step, whatever the estimator's data checks."
    from sbn_estimators.train import TrainConfig, train
    counts = {}
    for steps in (2, 6):
        cfg = TrainConfig(data='cos', estimator='arm', optimizer='sgd', epochs=1, device='cpu', n_train=16 * steps, batch_size=16, val=16, n_test=16)   # sgd: Adam reads its CPU step counter
        with _Reads() as r: train(cfg, None, progress=False)
        counts[steps] = r.n
    assert counts[6] - counts[2] == 4, counts   # one read per extra step (the finite check of the loss and gradients)

# --- whole-change review of s47 ---
def test_train_values_checked_against_the_models_outputs_and_transformed_inputs():
    import sbn_estimators.train as T
    data = T.load_data(T.TrainConfig(data='digits'))
    with pytest.raises(ValueError, match=r"data 'digits' \(training split\): class indices must be in 0\.\.1 \(2 classes\)"):
        T._check_train_values(data, SBNMLP([64, 8, 2], loss='cross_entropy', dtype=torch.float32))   # a model with fewer outputs than classes
    bad = T.Data(data.name, data.splits, data.n_out, data.loss, transform=lambda X, dtype=torch.float32: X.to(dtype) / 0.)
    with pytest.raises(ValueError, match=r"data 'digits' \(training split, inputs 0\.\.\d+\) has \d+ non-finite"):
        T._check_train_values(bad, SBNMLP([64, 8, 10], loss='cross_entropy', dtype=torch.float32))   # non-finite as the steps would see them
    T._check_train_values(data, SBNMLP([64, 8, 10], loss='cross_entropy', dtype=torch.float32))

def _ident(x): return x

def test_estimator_record_holds_no_memory_address(monkeypatch):
    import sbn_estimators.train as T
    monkeypatch.setattr(T, 'estimator_params', lambda name: {'post': _ident})
    assert T._estimator_record(T.TrainConfig())['post'] == '<function _ident>'   # the same in the process that resumes

def test_values_checked_only_around_the_steps_and_factories_keep_their_check(tmp_path, monkeypatch):
    import sbn_estimators.train as T
    from sbn_estimators.core import _VALUES_CHECKED
    made, during = [], []
    orig = T.make_optimizer
    def spy(*a, **k): made.append(orig(*a, **k)); return made[-1]
    monkeypatch.setattr(T, 'make_optimizer', spy)
    cfg = T.TrainConfig(data='fashion_mnist', data_dir=str(tmp_path), model='fmnist_bnn_conv:width=2', estimator='st:deterministic=true',
                        optimizer='bop', batch_size=4, device='cpu')
    T.train(cfg, None, smoke=True, progress=False)
    assert made and all(o.check_grads is False for o in made)   # the trainer checked the gradients itself
    T.train(T.TrainConfig(data='digits', model='sbn_mlp:width=8', epochs=1, n_train=64, batch_size=32, device='cpu'), None, progress=False,
            callbacks=[lambda e, row: during.append(_VALUES_CHECKED.get())])
    assert during and not any(during)   # a callback's own estimator calls are checked in full
    from sbn_estimators.binary_optimizers import make_bop
    from sbn_estimators.binary_weights import BinaryWeightLinear
    from sbn_estimators.binary_optimizers import binary_param_groups
    assert make_bop(binary_param_groups(torch.nn.Sequential(BinaryWeightLinear(4, 3))), cfg).check_grads is True   # anyone else's: checked

def test_an_optimizer_pickled_before_check_grads_copies_and_checks():
    import copy
    from sbn_estimators.binary_optimizers import Bop
    from sbn_estimators.binary_weights import BinaryWeightLinear
    lay = BinaryWeightLinear(4, 3, bias=False)
    opt = Bop([{'params': [lay.weight], 'binary': True}])
    del opt.check_grads   # as unpickled from before the flag existed
    c = copy.deepcopy(opt)
    lay2 = c.param_groups[0]['params'][0]; lay2.grad = torch.full_like(lay2, float('nan'))
    with pytest.raises(ValueError, match='is not finite'): c.step()
