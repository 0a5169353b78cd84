"""Review s56, fix h2: (1) under torchrun an error every process may meet alike is printed by the first process of each
machine (LOCAL_RANK 0), named `[rank N]`; a peer's exit in a collective is one line, not gloo's traceback. (2) `ReSTE.set_params`
sets o, t, m at once (the setters could not move t and m past each other). (3) `gradient_report` refuses spec strings that
name one estimator twice, as sbn-gradeval does."""
import argparse, copy, pickle
import pytest, torch
from sbn_estimators.cli import run_cli
from sbn_estimators.reste import ReSTE
from sbn_estimators.gradeval import gradient_report
from sbn_estimators.sbn import SBNMLP, init_sbn_, cos_data
from sbn_estimators.estimators import estimator

# 1. who prints under torchrun

def _toy(capsys, main, *argv):
    p = argparse.ArgumentParser(prog='toy')
    with pytest.raises(SystemExit) as e: run_cli(p, main, list(argv))
    return e.value.code, capsys.readouterr().err

def _no_data(args): raise FileNotFoundError("Fashion-MNIST not found in fm")
def _usage(args): raise ValueError("bad option")

def _env(monkeypatch, world, rank, local):
    monkeypatch.setenv('WORLD_SIZE', str(world)); monkeypatch.setenv('RANK', str(rank))
    if local is None: monkeypatch.delenv('LOCAL_RANK', raising=False)
    else: monkeypatch.setenv('LOCAL_RANK', str(local))

@pytest.mark.parametrize('main,status,line', [(_no_data, 2, "Fashion-MNIST not found in fm"), (_usage, 2, "bad option")])
def test_first_process_of_another_machine_prints_named(main, status, line, capsys, monkeypatch):
    # two machines, one process each: node 1's process is rank 1, LOCAL_RANK 0; its data folder may be the one missing
    _env(monkeypatch, 2, 1, 0)
    assert _toy(capsys, main) == (status, f"toy: [rank 1] error: {line}\n")
    _env(monkeypatch, 4, 3, 1)   # not the first process of its machine: silent, same status
    assert _toy(capsys, main) == (status, '')
    _env(monkeypatch, 4, 2, 0)
    assert _toy(capsys, main) == (status, f"toy: [rank 2] error: {line}\n")
    _env(monkeypatch, 2, 0, 0)   # rank 0: as one process
    assert _toy(capsys, main) == (status, f"toy: error: {line}\n")

def test_one_machine_prints_once(capsys, monkeypatch):
    for local in (1, None):   # LOCAL_RANK unset: taken as RANK (one machine)
        _env(monkeypatch, 2, 1, local)
        assert _toy(capsys, _no_data) == (2, '')

def test_argparse_errors_follow_the_same_rule(capsys, monkeypatch):
    _env(monkeypatch, 2, 1, 0)
    assert _toy(capsys, lambda a: None, '--bogus') == (2, "toy: [rank 1] error: unrecognized arguments: --bogus\n")
    _env(monkeypatch, 2, 1, 1)
    assert _toy(capsys, lambda a: None, '--bogus') == (2, '')

def test_interrupt_printed_by_each_machine(capsys, monkeypatch):
    def stop(args): raise KeyboardInterrupt
    _env(monkeypatch, 2, 1, 0)
    assert _toy(capsys, stop) == (130, "toy: [rank 1] interrupted\n")

def test_a_peer_that_left_is_one_line(capsys, monkeypatch):
    def gone(args): raise RuntimeError("[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:29702")
    _env(monkeypatch, 2, 0, 0)
    code, err = _toy(capsys, gone)
    assert (code, err) == (1, "toy: error: another process of this torchrun run failed (its output says why), so this one cannot go on\n")
    _env(monkeypatch, 4, 3, 1)   # each process that meets it says so, named
    assert _toy(capsys, gone)[1].startswith("toy: [rank 3] error: another process")
    monkeypatch.delenv('WORLD_SIZE'); monkeypatch.delenv('RANK'); monkeypatch.delenv('LOCAL_RANK')
    with pytest.raises(RuntimeError, match='by peer'):   # one process: no peer, a bug's traceback as before
        run_cli(argparse.ArgumentParser(prog='toy'), gone, [])

# 2. ReSTE.set_params

def test_set_params_moves_t_and_m_past_each_other():
    g = ReSTE(t=1.5, m=0.1)
    with pytest.raises(ValueError, match=r"need 0 < m < t .*set_params"): g.t = 0.05
    assert (g.o, g.t, g.m) == (3., 1.5, 0.1)
    g.set_params(t=0.05, m=0.01)
    assert (g.o, g.t, g.m) == (3., 0.05, 0.01)
    g.set_params(t=2., m=1.)   # and back up
    assert (g.t, g.m) == (2., 1.)
    g.set_params(o=2., m=0.2)
    assert (g.o, g.t, g.m) == (2., 2., 0.2)
    z = torch.tensor([0.1, 0.5, 2.5], dtype=torch.float64, requires_grad=True)
    g.deterministic = True
    g(z).sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([0.2 ** 0.5 / 0.2, 0.5 * 0.5 ** -0.5, 0.], dtype=torch.float64))

@pytest.mark.parametrize('kw,match', [(dict(t=0.05), "need 0 < m < t"), (dict(m=2.), "need 0 < m < t"), (dict(o=0.5), "o must be >= 1"),
                                      (dict(t=float('nan'), m=0.01), "t must be a finite"), (dict(m=True), "m must be a finite"),
                                      (dict(t=0.05, m=0.05), "need 0 < m < t")])
def test_set_params_refuses_and_changes_nothing(kw, match):
    g = ReSTE(t=1.5, m=0.1)
    with pytest.raises(ValueError, match=match): g.set_params(**kw)
    assert (g.o, g.t, g.m) == (3., 1.5, 0.1)

def test_set_params_updates_the_overflow_check_and_copies():
    g = ReSTE(o=3.)
    g.set_params(t=1e-3, m=1e-12)   # secant m^(1/o)/m = 1e8 > float16's largest number
    assert torch.float16 in g._overflows
    for c in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert (c.o, c.t, c.m) == (3., 1e-3, 1e-12)
        c.set_params(t=1.5, m=0.1); assert (c.t, c.m) == (1.5, 0.1) and (g.t, g.m) == (1e-3, 1e-12)

# 3. gradient_report refuses duplicates among spec strings

@pytest.fixture(scope='module')
def toy():
    X, Y = cos_data(20)
    return init_sbn_(SBNMLP([2, 3, 1]), X, seed=0), X, Y

@pytest.mark.parametrize('ests,msg', [('st,dst', "estimators: 'st' and 'dst' are the same estimator (st); give each once"),
                                      ('st,st', "estimators names st more than once"),
                                      (['st', 'st:noise=logistic'], "'st' and 'st:noise=logistic' are the same estimator (st)"),
                                      (['st', 'arm,dst'], "'st' and 'dst' are the same estimator")])
def test_duplicate_specs_refused(ests, msg, toy):
    net, X, Y = toy
    with pytest.raises(ValueError, match=msg.replace('(', r'\(').replace(')', r'\)')):
        gradient_report(net, X, Y, ests, samples=2, progress=False, on_estimator=lambda r: pytest.fail('drew before refusing'))

def test_instances_may_repeat(toy):
    net, X, Y = toy
    rep = gradient_report(net, X, Y, [estimator('st'), estimator('st'), 'st'], samples=2, progress=False)
    assert list(rep['estimators']) == ['st', 'st#2', 'st#3']
