"Review s61, fix X: a training loop of one's own reproduces `train`'s weights with `run_schedules` (the trainer's schedule rule: ReSTE's weight binarizers too, whatever the estimator) and, with a network-level estimator, with the trainer's extra sampled forward per step (its training accuracy); `evaluate(seed=s)` takes the trainer's 64-bit evaluation seeds and draws what the run's evaluation drew."
import pytest, torch
from sbn_estimators.core import seeded, get_loss
from sbn_estimators.data import write_fake_cifar10
from sbn_estimators.binary_weights import weight_penalty
from sbn_estimators.estimators import LocalEstimator
from sbn_estimators.layers import is_sbn_model
from sbn_estimators.train import TrainConfig, train, load_data, build, make_optimizer, lr_factor, evaluate

torch.set_num_threads(1)


def own_loop(cfg, schedule=None, extra_forward=False):
    "The trainer's steps written out: its data order, optimiser and schedule; `schedule(model, est, e, epochs)` at each epoch's start; `extra_forward`: after a network-level surrogate, the sampled forward the trainer's accuracy makes."
    with seeded(cfg.seed, 'cpu'):
        data = load_data(cfg)
        model, est = build(cfg, data)
    torch.manual_seed(cfg.seed)   # the trainer's stream (rank 0)
    opt = make_optimizer(model, cfg, len(data.splits['train'][1]))
    X, y = data.splits['train']
    B = cfg.batch_size; steps = len(y) // B
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps * cfg.epochs, steps * cfg.warmup_epochs, cfg.schedule))
    sbn = is_sbn_model(model)
    for e in range(cfg.epochs):
        if schedule: schedule(model, est, e, cfg.epochs)
        model.train()
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(cfg.seed * 100003 + e))
        for s in range(steps):
            idx = perm[s * B:(s + 1) * B]
            xb, yb = data.input(X[idx], torch.float32, train=True), y[idx]
            opt.zero_grad(set_to_none=True)
            if sbn and not isinstance(est, LocalEstimator):
                sur = est.surrogate(model, xb, yb)
                if extra_forward:
                    with torch.no_grad(): model(xb)
            else:
                sur = get_loss(data.loss)(model(xb, est) if sbn else model(xb), yb).mean()
                pen = weight_penalty(model)
                if pen is not None: sur = sur + pen
            sur.backward(); opt.step(); sched.step()
    return model


def max_diff(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


# K5: run_schedules is the trainer's schedule rule

@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    return str(write_fake_cifar10(tmp_path_factory.mktemp('cifar'), n_per_batch=4))


def test_run_schedules_reproduces_train_for_reste_weight_binarizers(cifar):
    from sbn_estimators.train import run_schedules
    cfg = TrainConfig(data='cifar10', data_dir=cifar, model='resnet20', estimator='st', epochs=2, val=4, n_test=4,
                      batch_size=8, eval_samples=1, seed=1)
    ref = train(cfg, progress=False)['model']
    assert max_diff(own_loop(cfg, run_schedules), ref) == 0   # bit for bit
    assert max_diff(own_loop(cfg, lambda m, est, e, E: est.on_epoch(m, e, E)), ref) > 0   # est.on_epoch alone: the binarizers stay at o = 3


def test_run_schedules_sets_the_weight_binarizers():
    from sbn_estimators.train import run_schedules
    from sbn_estimators.models import get_model
    from sbn_estimators.estimators import estimator
    from sbn_estimators.reste import ReSTE
    est = estimator('st'); net = get_model('resnet20', est, in_shape=(3, 32, 32))
    run_schedules(net, est, 0, 3)
    assert {float(m.o) for m in net.modules() if isinstance(m, ReSTE)} == {1.}


# K3: a network-level estimator's training accuracy is one more sampled forward per step, from the same stream

def test_own_loop_needs_the_trainers_accuracy_forward():
    "Pins the trainer's draw order: a change of it (e.g. dropping the accuracy forward) changes every network-level run's numbers."
    cfg = TrainConfig(model='sbn_mlp:width=8', estimator='psa', epochs=2, n_train=64, batch_size=32, val=32, n_test=32, eval_samples=1, seed=1)
    ref = train(cfg, progress=False)['model']
    assert max_diff(own_loop(cfg, extra_forward=True), ref) == 0
    assert max_diff(own_loop(cfg, extra_forward=False), ref) > 0


# K4: evaluate(seed=s) with the trainer's 64-bit evaluation seed

def eval_seed(seed, epochs): return (2**63 + seed * 2**31 + epochs + (seed // 2) * 0x9E3779B9) % 2**64   # 14_train's **Evaluation**


def test_evaluate_takes_the_runs_evaluation_seed():
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=1, n_train=64, batch_size=32, val=32, n_test=32, eval_samples=3, seed=3)
    rows = []
    res = train(cfg, progress=False, callbacks=[lambda e, row: rows.append(row)])
    data, s = load_data(cfg), eval_seed(cfg.seed, 1)
    assert s >= 2**32
    val = evaluate(res['model'], data, 'val', cfg.eval_samples, seed=s)   # was: ValueError, seed must be in 0..4294967295
    assert {k: val[k] for k in ('loss', 'acc', 'ens_acc', 'det_acc', 'det_loss')} == {k: rows[0][f'val_{k}'] for k in ('loss', 'acc', 'ens_acc', 'det_acc', 'det_loss')}
    test = evaluate(res['model'], data, 'test', cfg.eval_samples, seed=s)
    assert {k: test[k] for k in ('loss', 'acc', 'ens_acc')} == {k: res[f'test_{k}'] for k in ('loss', 'acc', 'ens_acc')}


@pytest.mark.parametrize('seed', [-1, 2**64, 1.5, True])
def test_evaluate_refuses_a_seed_out_of_range(seed):
    cfg = TrainConfig(model='sbn_mlp:width=8', n_train=64, val=32, n_test=32)
    data = load_data(cfg)
    with torch.random.fork_rng(devices=[]): model, _ = build(cfg, data)
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.18446744073709551615, got " + __import__('re').escape(repr(seed))):
        evaluate(model, data, 'test', 2, seed=seed)
