"""Review s57, fx4: PSA's compiled backward (page 10) and sbn-bench's case runner (page 10c)."""
import contextvars, errno, json
import pytest
import torch
from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_
from sbn_estimators.estimators import estimator


def test_compiled_psa_backward_leaves_no_contextvar_behind():
    "Each backward of a compiled PSA kernel set donated_buffer with `config.patch`: one ContextVar more per step, forever."
    import torch._functorch.config as aot
    from sbn_estimators import psa
    torch.manual_seed(0)
    X, Y = cos_data(8)
    net = init_sbn_(SBNMLP([2, 4, 4, 1]), X)
    est = estimator('psa:backend=compiled')
    ran = []
    backward = psa._OwnGraph.backward
    def counted(ctx, g): ran.append(1); return backward(ctx, g)
    def step():
        net.zero_grad(); est.surrogate(net, X, Y).backward()
    step()   # compiles
    before, was = len(contextvars.copy_context()), aot.donated_buffer
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(psa._OwnGraph, 'backward', staticmethod(counted))
        for _ in range(6): step()
    assert ran, "no compiled kernel's own backward ran: the test does not test it"
    assert len(contextvars.copy_context()) == before
    assert aot.donated_buffer == was


ROW = dict(net='fc', device='cpu', batch=2, threads=1, estimator='st', dtype='float32', seconds=0.01, time_ratio_to_st=1.0,
           peak_mem_mib=1.0, mem_ratio_to_st=1.0, warmup_seconds=0.1, seconds_iqr=0.001)


def test_bench_keeps_the_case_whose_json_write_failed(monkeypatch, capsys, tmp_path):
    "Old: rows were recorded only after the --json write, so a full disk lost the case just measured ('0 of 1 cases finished', no table)."
    import contextlib
    from sbn_estimators import cli
    from sbn_estimators.bench import bench_cli
    monkeypatch.setattr('sbn_estimators.bench._child_cases', lambda kwargs: [dict(ROW)])
    @contextlib.contextmanager
    def full(path): raise OSError(errno.ENOSPC, 'No space left on device'); yield
    monkeypatch.setattr(cli, 'atomic_path', full)
    out = tmp_path / 'b.jsonl'
    with pytest.raises(SystemExit) as e:
        bench_cli(['--nets', 'fc', '--devices', 'cpu', '--estimators', 'st', '--repeats', '3', '--json', str(out), '--quiet'])
    assert e.value.code == 1
    o, err = capsys.readouterr()
    assert o.splitlines()[0].split()[:5] == ['net', 'device', 'batch', 'thr', 'estimator'] and o.splitlines()[1].split()[:2] == ['fc', 'cpu'], o
    assert f"sbn-bench: 1 of 1 cases finished (fc on cpu); their table is above; writing {out} failed\n" in err, err   # no earlier rows: the file was never written
    assert not out.exists()


def test_bench_refuses_a_registered_estimator_named_float():
    "Old: a plugin's estimator registered as 'float' was silently benchmarked as mean_field ('float' of BENCH_ESTIMATORS won)."
    from sbn_estimators.estimators import ESTIMATORS, register_estimator
    from sbn_estimators.straight_through import ST
    from sbn_estimators.bench import run_cases, bench_cli
    @register_estimator('float')
    class FloatST(ST): "ST under the name float (a plugin's)."
    try:
        with pytest.raises(ValueError, match="estimator 'float' is registered .* baseline \\(mean_field\\); register that estimator under another name"):
            run_cases('fc', ['float', 'st'], batch=2, repeats=3, threads=1)
        with pytest.raises(SystemExit) as e: bench_cli(['--nets', 'fc', '--devices', 'cpu', '--estimators', 'float,st'])
        assert e.value.code == 2
    finally: ESTIMATORS.pop('float', None)


def test_run_cases_leaves_the_callers_random_numbers():
    "Old: only bench_problem ran seeded; the warm-up, timed and memory steps drew from the caller's generator."
    from sbn_estimators.bench import run_cases
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = run_cases('fc', ['st'], batch=2, repeats=3, threads=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.rand(1).item() == (torch.manual_seed(123), torch.rand(1).item())[1]
