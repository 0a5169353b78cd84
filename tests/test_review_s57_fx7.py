"""Review s57, fx7: (1) `train` seeds each process's noise on the CPU generator and the run's own CUDA device only
(`torch.manual_seed` reseeded every CUDA device, also for a CPU run); (2) `evaluate_posterior` checks its seed as
`evaluate` does; (3) `TrainConfig` takes numpy's numbers (also in stages) as the plain int or float they equal;
(4) RODEO's control networks are drawn from the global stream, which goes on after them (it was forked, so the first
estimate's noise repeated the uniforms of the initial weights)."""
import dataclasses, json
import numpy as np
import pytest, torch
from torch import nn
from sbn_estimators.cli import check_config
from sbn_estimators.data import cos_dataset
from sbn_estimators.binary_weights import BinaryWeightLinear
from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups
from sbn_estimators.rodeo import RODEO
from sbn_estimators.train import TrainConfig, train, evaluate_posterior

torch.set_num_threads(1)


# (1) a CPU run leaves every CUDA generator alone
def test_cpu_train_reseeds_no_cuda_generator(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, 'manual_seed_all', lambda seed: calls.append(seed))
    train(TrainConfig(data='digits', epochs=1, n_train=64, n_test=50, batch_size=32, eval_samples=1, device='cpu'), progress=False)
    assert calls == [], calls   # was: [0], torch.manual_seed's reseeding of every CUDA device


def test_cpu_train_still_draws_from_its_seed():
    cfg = TrainConfig(data='digits', epochs=1, n_train=64, n_test=50, batch_size=32, eval_samples=2, device='cpu', estimator='reinforce', seed=5)
    torch.manual_seed(1); a = train(cfg, progress=False)
    torch.manual_seed(2); b = train(cfg, progress=False)
    assert a['test_acc'] == b['test_acc'] and a['test_loss'] == b['test_loss']


# (2) evaluate_posterior's seed
def _posterior():
    data = cos_dataset()
    torch.manual_seed(0)
    net = nn.Sequential(BinaryWeightLinear(2, 4), nn.Tanh(), BinaryWeightLinear(4, 1))
    return net, BayesBiNN(binary_param_groups(net), train_size=len(data.splits['train'][1])), data


@pytest.mark.parametrize('seed', [2**32, -1, True, 1.0, '3'])
def test_evaluate_posterior_refuses_a_bad_seed(seed):
    net, opt, data = _posterior()
    with pytest.raises(ValueError, match=r'seed must be an integer in 0\.\.4294967295, got'):
        evaluate_posterior(net, opt, data, 'test', samples=2, seed=seed)


def test_evaluate_posterior_takes_a_good_seed():
    net, opt, data = _posterior()
    a = evaluate_posterior(net, opt, data, 'test', samples=2, seed=2**32 - 1)
    b = evaluate_posterior(net, opt, data, 'test', samples=2, seed=np.int64(2**32 - 1))
    assert a == b


# (3) numpy's numbers in TrainConfig
@pytest.mark.parametrize('field, value, plain', [
    ('val', np.float64(0.2), 0.2), ('val', np.int64(20), 20), ('lr', np.float32(0.5), 0.5), ('epochs', np.int64(3), 3),
    ('seed', np.uint32(5), 5), ('momentum', np.float16(0.5), 0.5), ('batch_size', np.int32(16), 16)])
def test_trainconfig_takes_numpy_numbers_as_plain_ones(field, value, plain):
    cfg = TrainConfig(**{field: value})
    got = getattr(cfg, field)
    assert got == plain and type(got) is type(plain), (got, type(got))
    assert json.loads(json.dumps(dataclasses.asdict(cfg)))[field] == plain


def test_trainconfig_stages_take_numpy_numbers():
    stages = [{'name': 'a', 'epochs': np.int64(2), 'lr': np.float64(0.01)}, {'name': 'b', 'lr': np.float32(0.5)}]
    cfg = TrainConfig(stages=stages)
    assert cfg.stages == [{'name': 'a', 'epochs': 2, 'lr': 0.01}, {'name': 'b', 'lr': 0.5}]
    assert [type(v) for s in cfg.stages for v in s.values()] == [str, int, float, str, float]
    plain = [{'name': 'a', 'epochs': 2}]
    assert TrainConfig(stages=plain).stages is plain   # nothing to change: the list given


@pytest.mark.parametrize('kw, msg', [
    (dict(epochs=3.0), "'epochs' must be int, got 3.0"), (dict(epochs=np.float64(3.0)), "'epochs' must be int"),
    (dict(epochs=True), "'epochs' must be int, got True"), (dict(epochs=np.bool_(True)), "'epochs' must be int"),
    (dict(val=True), "'val' must be float, got True"), (dict(stages=[{'name': 'a', 'epochs': np.float64(2.0)}]), 'stages[0].epochs must be int')])
def test_trainconfig_still_refuses_a_float_or_bool_for_an_int(kw, msg):
    with pytest.raises(ValueError) as e: TrainConfig(**kw)
    assert msg in str(e.value), str(e.value)


def test_json_and_plain_values_unchanged():
    @dataclasses.dataclass
    class Demo:
        epochs: int = 10
        lr: float = 0.1
    assert check_config({'epochs': 3, 'lr': 1}, Demo) == {'epochs': 3, 'lr': 1.0}
    got = check_config({'epochs': np.int64(3), 'lr': np.float32(0.5)}, Demo)
    assert got == {'epochs': 3, 'lr': 0.5} and [type(v) for v in got.values()] == [int, float]
    cfg = TrainConfig(val=20, lr=1)
    assert (cfg.val, type(cfg.val), cfg.lr, type(cfg.lr)) == (20, int, 1, int)   # as before
    assert TrainConfig.from_dict(dataclasses.asdict(TrainConfig(val=np.int64(20)))) == TrainConfig.from_dict(dataclasses.asdict(TrainConfig(val=20)))


# (4) RODEO's initial control networks advance the global stream
def test_rodeo_control_nets_are_not_the_next_uniforms():
    e = RODEO(hidden=16)
    torch.manual_seed(0)
    e._init_state(1, torch.zeros(3, 4))
    w = e.nets[0][0].weight.detach().flatten()   # kaiming uniform: (2u - 1) * bound for 32 uniforms u
    u = torch.rand(len(w))
    r = torch.corrcoef(torch.stack([w.double(), u.double()]))[0, 1]
    assert abs(r) < 0.9, r   # was 1: the fork left the stream where it was


def test_rodeo_loaded_state_leaves_the_stream():
    e = RODEO(hidden=4)
    e._init_state(2, torch.zeros(3, 4))
    f = RODEO(hidden=4); f.load_state_dict(e.state_dict())
    torch.manual_seed(0); f._init_state(2, torch.zeros(3, 4)); a = torch.rand(3)
    torch.manual_seed(0); b = torch.rand(3)
    assert torch.equal(a, b)   # its weights are the loaded ones: drawn off the stream
