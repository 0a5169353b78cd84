"BayesBiNN under torch.distributed: every process uses rank 0's noise delta, so the posteriors (lambda) stay identical across ranks."
import os, socket, subprocess, sys, textwrap
import torch

WORKER = textwrap.dedent('''
    import os, sys, torch, torch.distributed as dist
    from torch import nn
    from sbn_estimators.binary_optimizers import BayesBiNN
    torch.set_num_threads(1)
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)                                  # the same model and data in every process, as the trainer builds them
    w, b = nn.Parameter(torch.randn(16)), nn.Parameter(torch.zeros(1))
    X, y = torch.randn(64, 16), torch.randn(64)
    torch.manual_seed(1 + 7919 * rank)                    # then each its own random state, as the trainer seeds it
    opt = BayesBiNN([{'params': [w], 'binary': True}, {'params': [b]}], train_size=64, lr=0.1, temperature=1.0, init_lambda=0.5, sync_ranks=True)   # asked: every draw rank 0's
    first = opt.state[w]['delta'].clone()
    half = 64 // world
    for _ in range(6):
        xs, ys = X[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]   # this process's slice of the batch
        opt.zero_grad(); ((xs @ w + b - ys) ** 2).mean().backward()
        for p in (w, b): dist.all_reduce(p.grad); p.grad.div_(world)                 # averaged, as the trainer (DDP) does
        opt.step()
    torch.save(dict(first=first, lam=opt.state[w]['lambda'], delta=opt.state[w]['delta'], w=w.detach(), b=b.detach()), sys.argv[1] + f'.{rank}.pt')
    dist.destroy_process_group()
''')

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _run(tmp_path, world):
    script = tmp_path / 'worker.py'; script.write_text(WORKER)
    port, out = _free_port(), tmp_path / f'w{world}'
    env = {**os.environ, 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port), 'WORLD_SIZE': str(world), 'OMP_NUM_THREADS': '1'}
    ps = [subprocess.Popen([sys.executable, str(script), str(out)], env={**env, 'RANK': str(r), 'LOCAL_RANK': str(r)},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(world)]
    for p in ps:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    return [torch.load(f'{out}.{r}.pt') for r in range(world)]

def test_two_processes_keep_one_posterior(tmp_path):
    r0, r1 = _run(tmp_path, 2)
    assert torch.equal(r0['first'], r1['first'])          # the delta drawn at construction is rank 0's in both
    for k in ('lam', 'delta', 'w', 'b'): assert torch.equal(r0[k], r1[k]), k
    # and it is the one-process algorithm on the whole batch (rank 0's random numbers; the gradient's mean reduced in another order)
    one, = _run(tmp_path, 1)
    for k in ('lam', 'w', 'b'): torch.testing.assert_close(r0[k], one[k], rtol=1e-3, atol=1e-3)   # lambda ~ N s g: float32 rounding scaled up
