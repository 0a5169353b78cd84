"Review s56 (h1): the estimator record's 'None', a --config file's unused estimator, what TrainConfig does not refuse, and BayesBiNN's collectives only in the trainer's optimizer."
import dataclasses, json, os, socket, subprocess, sys, textwrap
from pathlib import Path
import pytest, torch
import torch.distributed as dist
from torch import nn
import sbn_estimators.train as T
from sbn_estimators.train import TrainConfig, train, load_checkpoint, save_checkpoint, config_from_args, _parser
from sbn_estimators.binary_optimizers import BayesBiNN

FASHION = Path('/usr/share/datasets/fashion-mnist')
SMALL = dict(model='sbn_mlp:width=8', epochs=2, n_train=64, val=32, n_test=32, batch_size=32, eval_samples=1, device='cpu')

# 1. the record of a spec's 'None'

@pytest.mark.parametrize('spec', ['reinforce:n=None', 'reinforce:n=none', 'reinforce:n=NONE'])
def test_estimator_record_reads_none_as_none(spec):
    rec = T._estimator_record(TrainConfig(estimator=spec))
    assert rec['n'] is None and rec['baseline'] == 'none'   # baseline's default is the string 'none': kept a string

def test_none_recorded_in_result_and_old_checkpoint_still_resumes(tmp_path):
    cfg = TrainConfig(estimator='reinforce:n=None', **SMALL)
    def stop(epoch, row):
        if epoch == 1: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'run', callbacks=[stop], progress=False)
    ck = load_checkpoint(tmp_path / 'run' / 'last.pt')
    assert ck['estimator_params']['n'] is None
    ck['estimator_params']['n'] = 'None'   # as an earlier version recorded it
    save_checkpoint(tmp_path / 'run' / 'last.pt', **{k: v for k, v in ck.items() if k != 'format'})
    train(cfg, tmp_path / 'run', resume=True, progress=False)   # resumes: the same resolution
    assert json.loads((tmp_path / 'run' / 'result.json').read_text())['estimator_params']['n'] is None

def test_check_estimator_record_normalises_both_sides():
    cfg = TrainConfig(estimator='reinforce:n=None')
    old = {**T._estimator_record(cfg), 'n': 'None'}
    assert T._check_estimator_record({'estimator_params': old}, cfg, Path('r')) is None
    with pytest.raises(ValueError, match='with n 3'):   # a real difference is still refused
        T._check_estimator_record({'estimator_params': {**old, 'n': 3}}, cfg, Path('r'))

# 2. a hand-written --config file's estimator the model does not use

def _cfg_args(tmp_path, d, *more):
    f = tmp_path / 'hw.json'; f.write_text(json.dumps(d))
    return config_from_args(_parser().parse_args(['--config', str(f), *more])), f

def test_config_file_unused_estimator_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"estimator reste of config file .*hw\.json is not used: model 'duo_mlp' has no binary units.*drop estimator from"):
        _cfg_args(tmp_path, {'model': 'duo_mlp', 'estimator': 'reste'})

def test_config_file_default_or_used_estimator_is_accepted(tmp_path):
    assert _cfg_args(tmp_path, {'model': 'duo_mlp'})[0].estimator == 'st'   # the default: nothing given
    stages = [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 2, 'lr': 0.01}]
    assert _cfg_args(tmp_path, {'model': 'duo_mlp', 'estimator': 'clipped_st', 'stages': stages})[0].estimator == 'clipped_st'
    with pytest.raises(ValueError, match=r"--estimator reste is not used"):   # the option's message as before
        config_from_args(_parser().parse_args(['--model', 'duo_mlp', '--estimator', 'reste']))

# 3. the Python API: what it does not refuse, and says so

def test_trainconfig_documents_the_ignored_settings_it_accepts():
    doc = TrainConfig.__doc__
    assert 'momentum' in doc and 'every stage' in doc and 'estimator' in doc
    for kw in (dict(optimizer='adam', momentum=0.5), dict(epochs=7, stages=[{'name': 'a', 'epochs': 3}]),
               dict(lr=0.5, stages=[{'name': 'a', 'lr': 0.1}]), dict(model='duo_mlp', estimator='reste')):
        c = TrainConfig(**kw)
        assert TrainConfig.from_dict(dataclasses.asdict(c)) == c   # a saved config.json holding such a value loads as it was

# 4. BayesBiNN: no collective outside the trainer's optimizer

@pytest.fixture
def fake_group(monkeypatch):
    "A process group of 2 as `_from_rank0` sees it, its broadcasts counted (not sent)."
    calls = []
    monkeypatch.setattr(dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(dist, 'get_world_size', lambda *a, **k: 2)
    monkeypatch.setattr(dist, 'broadcast', lambda t, src, *a, **k: calls.append(tuple(t.shape)))
    return calls

def test_trainconfig_with_bayesbinn_makes_no_broadcast(fake_group):
    cfg = TrainConfig(optimizer='bayesbinn', lr=0.01)
    TrainConfig.from_dict(dataclasses.asdict(cfg)); cfg.replace(lr=0.02); dataclasses.replace(cfg, lr=0.03)
    TrainConfig(optimizer='bayesbinn', stages=[{'name': 'a', 'lr': 0.01}, {'name': 'b', 'lr': 0.02}])
    assert fake_group == []

def test_bayesbinn_broadcasts_only_when_asked(fake_group):
    w = nn.Parameter(torch.randn(5))
    opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=10, temperature=1.)
    w.grad = torch.ones(5); opt.step()
    assert fake_group == [] and opt.sync_ranks is False
    opt._share_delta()
    assert fake_group == [(5,)] and opt.sync_ranks is True
    opt.step()
    assert fake_group == [(5,), (5,)]   # each later draw too
    v = nn.Parameter(torch.randn(3))
    BayesBiNN([{'params': [v], 'binary': True}], train_size=10, sync_ranks=True)
    assert fake_group[-1] == (3,)   # asked at construction: the first draw is rank 0's

def test_sync_ranks_is_copied_and_checked():
    import copy
    w = nn.Parameter(torch.randn(5))
    assert copy.deepcopy(BayesBiNN([{'params': [w], 'binary': True}], train_size=10, sync_ranks=True)).sync_ranks is True
    with pytest.raises(ValueError, match='sync_ranks'): BayesBiNN([{'params': [w], 'binary': True}], train_size=10, sync_ranks='yes')

def test_one_process_draws_unchanged():
    "Single-process numbers: the same delta and steps with the flag on or off (and as before: the same random numbers drawn)."
    out = []
    for sync in (False, True):
        torch.manual_seed(0); w = nn.Parameter(torch.randn(6))
        opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=10, temperature=1., sync_ranks=sync)
        for _ in range(3): w.grad = torch.linspace(-1, 1, 6); opt.step()
        out.append((opt.state[w]['lambda'].clone(), opt.state[w]['delta'].clone(), torch.rand(2)))
    for a, b in zip(*out): assert torch.equal(a, b)

WORKER = textwrap.dedent('''
    import dataclasses, sys, torch, torch.distributed as dist
    torch.set_num_threads(1)
    import sbn_estimators.binary_optimizers as B
    from sbn_estimators.train import TrainConfig, train, load_run
    seen, step = [], B.BayesBiNN.step
    def recording(self, closure=None):   # the delta each step's sample was drawn with
        seen.append([self.state[w]['delta'].clone() for g in self.param_groups if g['binary'] for w in g['params']])
        return step(self, closure)
    B.BayesBiNN.step = recording
    cfg = TrainConfig(**CFG)
    train(cfg, sys.argv[1], progress=False)
    rank = dist.get_rank()
    if rank == 0:   # rank-0-only code while the other waits: no collective may be issued
        load_run(sys.argv[1], 'last.pt'); TrainConfig.from_dict(dataclasses.asdict(cfg))
    dist.barrier()
    torch.save(seen, sys.argv[2] + f'.{rank}.pt')
''')

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_trainer_shares_delta_and_rank0_only_code_runs(tmp_path):
    cfg = dict(data='fashion_mnist', model='fmnist_bnn_conv:width=4', estimator='st:deterministic=true',
               optimizer='bayesbinn:temperature=1,init_lambda=0.5', lr=1e-2, epochs=1, n_train=128, val=64, n_test=64,
               batch_size=64, eval_samples=1, seed=0, device='cpu')
    script = tmp_path / 'worker.py'; script.write_text(f"CFG = {cfg!r}\n" + WORKER)
    env = {**os.environ, 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(_free_port()), 'WORLD_SIZE': '2', 'OMP_NUM_THREADS': '1'}
    ps = [subprocess.Popen([sys.executable, str(script), str(tmp_path / 'run'), str(tmp_path / 'seen')],
                           env={**env, 'RANK': str(r), 'LOCAL_RANK': str(r)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for r in range(2)]
    try:
        for p in ps:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-3000:]
    finally:
        for p in ps:
            if p.poll() is None: p.kill()
    s0, s1 = (torch.load(tmp_path / f'seen.{r}.pt') for r in range(2))
    assert len(s0) == len(s1) == 2   # 128 examples, batch 64: two steps
    for a, b in zip(s0, s1):
        for x, y in zip(a, b): assert torch.equal(x, y)   # rank 0's delta in both, the construction's included
