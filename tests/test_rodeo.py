"RODEO (nbs/18a_rodeo.ipynb) from the outside: the registry, bad parameters, sbn-gradeval and sbn-train with `rodeo`."
import json, subprocess
import pytest, torch
from conftest import console_script
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator, estimator_params, list_estimators, draw_estimates
from sbn_estimators.rodeo import RODEO
from sbn_estimators.train import TrainConfig, train, train_cli

torch.set_num_threads(1)  # tiny tensors: one thread is fastest on a shared CPU


def test_registered_with_its_parameters():
    assert 'rodeo' in list_estimators()
    assert estimator_params('rodeo') == dict(n=4, hidden=16, lr=0.01, net_lr=0.01, tune=True)
    e = estimator('rodeo:n=2,hidden=8,net_lr=0.001')
    assert isinstance(e, RODEO) and (e.n, e.hidden, e.net_lr, e.lr, e.tune) == (2, 8, 0.001, 0.01, True)
    assert e.spec == 'rodeo:n=2,hidden=8,net_lr=0.001'
    assert estimator('rodeo:tune=false', n=3).spec == 'rodeo:n=3,tune=False'


@pytest.mark.parametrize('spec, params, msg', [
    ('rodeo', dict(n=1), 'n must be an integer >= 2, got 1'),
    ('rodeo', dict(n=2.5), 'n must be an integer >= 2, got 2.5'),
    ('rodeo', dict(n=True), 'n must be an integer >= 2, got True'),
    ('rodeo', dict(hidden=0), 'hidden must be a positive integer, got 0'),
    ('rodeo', dict(hidden=4.0), 'hidden must be a positive integer, got 4.0'),
    ('rodeo', dict(lr=0), 'lr must be a positive number, got 0'),
    ('rodeo', dict(lr='fast'), "lr must be a positive number, got 'fast'"),
    ('rodeo', dict(net_lr=-1e-3), 'net_lr must be a positive number, got -0.001'),
    ('rodeo', dict(net_lr=float('inf')), 'net_lr must be a positive number, got inf'),
    ('rodeo', dict(lr=float('inf')), 'lr must be a positive number, got inf'),
    ('rodeo:lr=true', {}, 'lr must be a positive number, got True'),
    ('rodeo:tune=yes', {}, "tune must be True or False, got 'yes'"),
    ('rodeo:n=0', {}, 'n must be an integer >= 2, got 0'),
    ('rodeo', dict(alpha=1.), "estimator 'rodeo' has no parameter alpha; valid parameters: n=4, hidden=16, lr=0.01, net_lr=0.01, tune=True"),
])
def test_bad_parameters_are_value_errors(spec, params, msg):
    with pytest.raises(ValueError) as e: estimator(spec, **params)
    assert msg in str(e.value), str(e.value)


def test_state_belongs_to_one_depth():
    X, Y = cos_data(5)
    est = RODEO()
    est.surrogate(SBNMLP([2, 3, 3, 1]), X, Y).backward()
    with pytest.raises(ValueError, match='tuned for 2 binary layers, the network has 1'):
        est.surrogate(SBNMLP([2, 3, 1]), X, Y)


def test_state_belongs_to_one_dtype():
    X, Y = cos_data(5)
    est = RODEO()
    est.surrogate(SBNMLP([2, 3, 3, 1]), X, Y).backward()
    with pytest.raises(ValueError, match='tuned in torch.float64, the data is torch.float32: an estimator is bound to the dtype'):
        est.surrogate(SBNMLP([2, 3, 3, 1], dtype=torch.float32), X.float(), Y.float())


def test_fills_every_gradient_and_tunes():
    X, Y = cos_data(5)
    net = SBNMLP([2, 3, 3, 1])
    est = RODEO()
    for _ in range(3):
        net.zero_grad()
        est.surrogate(net, X, Y).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert (est.alphas != 0).all() and (est.betas != 0).all()           # three Adam steps moved the scales off 0
    frozen = est.alphas.detach().clone()
    est.tune = False
    est.surrogate(net, X, Y).backward()
    assert torch.equal(est.alphas.detach(), frozen)


def test_untrained_is_leave_one_out_reinforce():
    "alpha = beta = 0 and no tuning: the same estimates as reinforce:baseline=loo with the same paths."
    X, Y = cos_data()
    toy = init_sbn_(SBNMLP([2, 5, 5, 1]), X, seed=0)
    d = []
    for spec in ('rodeo:n=3,tune=false', 'reinforce:baseline=loo,n=3'):
        est = estimator(spec)
        draw_estimates(toy, X[:2], Y[:2], est, 1)   # RODEO's first call draws its control networks from the stream: built before the seed
        torch.manual_seed(4)
        d.append(draw_estimates(toy, X[::20], Y[::20], est, 20))
    for k in d[0]: torch.testing.assert_close(d[0][k], d[1][k], rtol=0, atol=1e-12)


def test_sbn_gradeval_runs_rodeo(tmp_path):
    "The installed `sbn-gradeval` with `--estimators rodeo`: listed with its parameters, and its report passes the z-test."
    gradeval = console_script('sbn-gradeval')
    r = subprocess.run([gradeval, '--list'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and 'rodeo:n=4,hidden=16,lr=0.01,net_lr=0.01,tune=True' in r.stdout, r.stdout[-2000:]
    r = subprocess.run([gradeval, '--estimators', 'exact,rodeo:n=2', '--samples', '300', '--chunk', '300', '--epochs', '20',
                        '--no-progress'], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'gradeval.json').read_text())
    groups = report['estimators']['rodeo:n=2']['groups']
    assert len(groups) == 4 and all(g['p_unbiased'] > 1e-3 for g in groups), groups
    assert 'rodeo:n=2' in r.stdout


def test_sbn_train_lists_and_trains_rodeo(tmp_path, capsys):
    "`sbn-train --list` offers rodeo for SBN models (like double_cv), and one epoch on the default digits trains and writes a run."
    train_cli(['--list'])
    out = capsys.readouterr().out
    assert 'rodeo: n=4, hidden=16, lr=0.01, net_lr=0.01, tune=True' in out
    rows = {l.split('|')[1].strip(): l for l in out.splitlines() if l.startswith('| `')}
    assert rows['`rodeo`'].replace('rodeo', '') == rows['`double_cv`'].replace('double_cv', '')
    res = train(TrainConfig(model='sbn_mlp:width=32', estimator='rodeo', epochs=1, eval_samples=2), tmp_path / 'r', progress=False)
    assert 0 <= res['test_acc'] <= 1 and torch.isfinite(torch.tensor(res['test_loss']))
    still = train(TrainConfig(model='sbn_mlp:width=32', estimator='rodeo', epochs=1, eval_samples=2, lr=1e-9), tmp_path / 'u', progress=False)
    assert res['test_loss'] < still['test_loss'] - 0.05, (res['test_loss'], still['test_loss'])   # trained: 2.36 vs 2.46 untrained
    assert json.loads((tmp_path / 'r' / 'config.json').read_text())['estimator'] == 'rodeo'


def test_stateless_estimators_refuse_a_learned_state():
    "A checkpoint's estimator state given to an estimator that learns nothing is refused, naming what it held."
    assert estimator('st').state_dict() == {} or len(estimator('st').state_dict()) == 0
    with pytest.raises(ValueError, match="estimator 'reinforce' learns nothing, but the state holds alphas"):
        estimator('reinforce').load_state_dict({'alphas': torch.zeros(2)})


def test_resume_restores_what_rodeo_learned(tmp_path):
    "An interrupted and resumed rodeo run ends with the same weights as an uninterrupted one: its control networks are checkpointed."
    cfg = TrainConfig(model='sbn_mlp:width=16', estimator='rodeo:n=2,hidden=4', epochs=3, eval_samples=1, seed=1, device='cpu')
    full = train(cfg, tmp_path / 'a', progress=False)['model']
    def stop(epoch, row):
        if epoch == 1: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[stop], progress=False)
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)['model']
    for (k, p), q in zip(full.state_dict().items(), resumed.state_dict().values()): assert torch.equal(p, q), k
