"Dropout between a ternary unit and its consumer: after `decouple` both binary halves of a unit share one mask (review s53, D1)."
import copy, pickle
import pytest, torch
from torch import nn
from sbn_estimators.binaryduo import Quantize, decouple, binary_input_params

def _same_seed(m, x, seed=0):
    d = decouple(m)
    m.train(); d.train()
    with torch.no_grad():
        torch.manual_seed(seed); a = m(x)
        torch.manual_seed(seed); b = d(x)
    return a, b, d

def test_repro_variance_linear():
    m = nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Dropout(0.5), nn.Linear(3, 1)).double()
    with torch.no_grad(): m[0].weight.fill_(0.); m[0].bias.copy_(torch.tensor([1., .5, 1.]))
    x = torch.randn(1, 4, dtype=torch.float64).expand(20000, 4)
    a, b, _ = _same_seed(m, x)
    torch.testing.assert_close(b, a, rtol=0, atol=1e-12)   # same seed: same masks, same outputs
    assert abs(a.var().item() - b.var().item()) < 1e-10

@pytest.mark.parametrize('inplace', [False, True])
def test_same_seed_linear(inplace):
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), Quantize(2), nn.Dropout(0.3, inplace=inplace), nn.Linear(8, 3)).double()
    x = torch.randn(64, 6, dtype=torch.float64)
    a, b, d = _same_seed(m, x, seed=5)
    torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    m.eval(); d.eval()
    with torch.no_grad(): torch.testing.assert_close(d(x), m(x), rtol=0, atol=1e-12)

def test_same_seed_conv():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), Quantize(2), nn.Dropout(0.4), nn.MaxPool2d(2), nn.Conv2d(5, 3, 3)).double()
    x = torch.randn(8, 2, 8, 8, dtype=torch.float64)
    a, b, d = _same_seed(m, x, seed=7)
    torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    assert binary_input_params(d) == 2 * binary_input_params(m)

def test_other_dropout_left_alone_and_serialisable():
    m = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.2), nn.Linear(6, 5), Quantize(2), nn.Dropout(0.5), nn.Linear(5, 2))
    d = decouple(m)
    assert type(d[1]) is nn.Dropout and d[1].p == 0.2
    assert type(d[4]) is not nn.Dropout and isinstance(d[4], nn.Dropout) and d[4].p == 0.5 and d[4].dim == -1
    x = torch.randn(16, 4)
    for e in (copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        e.load_state_dict(d.state_dict())
        d.train(); e.train()
        with torch.no_grad():
            torch.manual_seed(3); y1 = d(x)
            torch.manual_seed(3); y2 = e(x)
        torch.testing.assert_close(y1, y2, rtol=0, atol=0)

def test_mode_kept():
    m = nn.Sequential(nn.Linear(4, 3), Quantize(2), nn.Dropout(0.5), nn.Linear(3, 2)).eval()
    d = decouple(m)
    assert not d[2].training
    x = torch.randn(5, 4)
    with torch.no_grad(): torch.testing.assert_close(d(x), m(x))

def test_paired_dropout_refusals():
    from sbn_estimators.binaryduo import PairedDropout
    for dim in (0, 1, True, 1.5):
        with pytest.raises(ValueError, match='dim must be a negative integer'): PairedDropout(0.5, dim=dim)
    with pytest.raises(ValueError, match='dropout probability'): PairedDropout(1.5)
    with pytest.raises(ValueError, match='needs an even size'): PairedDropout(0.5)(torch.ones(2, 3))
    assert torch.equal(PairedDropout(0.5).eval()(torch.ones(2, 3)), torch.ones(2, 3))

def test_staged_training_with_dropout_resumes(tmp_path):
    "The sbn-train stage transform `decouple` on a model with dropout before a consumer: runs, checkpoints and resumes inside stage 2 exactly."
    from sbn_estimators.models import MODELS, register_model
    from sbn_estimators.train import TrainConfig, RECIPES, train, load_checkpoint
    from sbn_estimators.binaryduo import PairedDropout
    @register_model('duo_drop_s53d1', 'layered', (None,), 'digits', 'test: ternary MLP with dropout before the consumer', needs_est=False)
    def duo_drop_s53d1(est=None, in_shape=(64,), n_out=10):
        return nn.Sequential(nn.Linear(in_shape[0], 16), nn.BatchNorm1d(16), Quantize(2), nn.Dropout(0.3), nn.Linear(16, n_out))
    try:
        cfg = TrainConfig(**{**RECIPES['binaryduo_digits'].config, 'model': 'duo_drop_s53d1', 'epochs': 2, 'batch_size': 128,
                             'eval_samples': 1, 'seed': 4,
                             'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 2, 'lr': 0.001}]})
        full = train(cfg, tmp_path / 'a', progress=False)
        assert isinstance(full['model'][3], PairedDropout)
        def stop(epoch, row):
            if epoch == 3: raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[stop], progress=False)
        assert load_checkpoint(tmp_path / 'b' / 'last.pt')['stage'] == 1
        resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)
        for (k, p), q in zip(full['model'].state_dict().items(), resumed['model'].state_dict().values()): assert torch.equal(p, q), k
    finally: MODELS.pop('duo_drop_s53d1', None)
