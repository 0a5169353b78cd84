"Under torchrun (WORLD_SIZE > 1) only rank 0 prints a command's error line or interrupt hint; every rank exits with the same status."
import argparse
import pytest
from sbn_estimators.cli import run_cli, CommandError
from sbn_estimators.train import train_cli

def _toy(capsys, main, *argv, hint=None):
    p = argparse.ArgumentParser(prog='toy')
    p.add_argument('--n', type=int, default=1)
    with pytest.raises(SystemExit) as e: run_cli(p, main, list(argv), resume_hint=hint)
    return e.value.code, capsys.readouterr().err

def _bad(args): raise ValueError("Fashion-MNIST not found in /nonexistent")
def _stop(args): raise KeyboardInterrupt
def _diverged(args): raise CommandError("loss is nan at epoch 3", status=1)

CASES = [((_bad,), 2, "toy: error: Fashion-MNIST not found in /nonexistent\n"),
         ((_stop,), 130, "toy: interrupted; continue with: toy --resume\n"),
         ((_diverged,), 1, "toy: error: loss is nan at epoch 3\n"),
         ((_bad, '--n', 'x'), 2, "toy: error: argument --n: invalid int value: 'x'\n")]   # argparse's own error

@pytest.mark.parametrize('args,status,line', CASES)
def test_only_rank_0_prints(args, status, line, capsys, monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '1')
    assert _toy(capsys, *args, hint=lambda a: 'toy --resume') == (status, '')        # silent, same status
    monkeypatch.setenv('RANK', '0')
    assert _toy(capsys, *args, hint=lambda a: 'toy --resume') == (status, line)      # rank 0: the line, once

def test_one_process_prints_whatever_rank_says(capsys, monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '1'); monkeypatch.setenv('RANK', '1')            # not several processes: as always
    assert _toy(capsys, _bad) == (2, "toy: error: Fashion-MNIST not found in /nonexistent\n")
    monkeypatch.delenv('WORLD_SIZE'); monkeypatch.delenv('RANK')
    assert _toy(capsys, _bad) == (2, "toy: error: Fashion-MNIST not found in /nonexistent\n")

def test_debug_prints_on_every_rank(capsys, monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2'); monkeypatch.setenv('RANK', '1')
    code, err = _toy(capsys, _bad, '--debug')
    assert code == 2 and err.startswith('Traceback') and err.endswith("toy: error: Fashion-MNIST not found in /nonexistent\n")

@pytest.mark.parametrize('args,msg', [(['--lr', 'inf'], 'lr must be a positive finite number'),
                                      (['--threads', '0'], 'must be a positive integer')])
def test_sbn_train_on_rank_1(args, msg, tmp_path, capsys, monkeypatch):
    # errors found before the process group starts (so no rendezvous is needed here)
    monkeypatch.setenv('WORLD_SIZE', '2'); monkeypatch.setenv('RANK', '1')
    argv = [*args, '--epochs', '1', '--quiet', '--out', str(tmp_path / 'run')]
    with pytest.raises(SystemExit) as e: train_cli(argv)
    assert e.value.code == 2 and capsys.readouterr().err == ''
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(SystemExit) as e: train_cli(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and err.startswith('sbn-train: error: ') and msg in err

@pytest.mark.parametrize('world,rank', [('2', '2'), ('2', '-1'), ('2', 'x'), ('x', '1')])
def test_a_rank_out_of_range_still_reports(world, rank, capsys, monkeypatch):
    # not a rank other than 0 of WORLD_SIZE processes: the environment is wrong (the trainer refuses it), so the line is printed
    monkeypatch.setenv('WORLD_SIZE', world); monkeypatch.setenv('RANK', rank)
    assert _toy(capsys, _bad) == (2, "toy: error: Fashion-MNIST not found in /nonexistent\n")

def _oom(args): raise MemoryError()
def _disk_full(args):
    import errno
    raise OSError(errno.ENOSPC, 'No space left on device')

@pytest.mark.parametrize('main,status', [(_oom, 1), (_disk_full, 1)])
def test_an_error_of_one_process_is_printed_by_it_named(main, status, capsys, monkeypatch):
    # memory or the machine: a rank may meet it alone, so rank 0 would not report it
    monkeypatch.setenv('WORLD_SIZE', '2'); monkeypatch.setenv('RANK', '1')
    code, err = _toy(capsys, main)
    assert code == status and err.startswith('toy: [rank 1] error: ') and err.count('\n') == 1
    monkeypatch.setenv('RANK', '0')
    code, err = _toy(capsys, main)
    assert code == status and err.startswith('toy: error: ')

def test_too_many_processes_per_machine_refused_on_every_rank(monkeypatch):
    # LOCAL_RANK 0 has a GPU, but torchrun started 2 processes on a machine with 1: rank 0 refuses too, so it reports it
    import torch
    from sbn_estimators import train as T
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: None)
    monkeypatch.setenv('WORLD_SIZE', '2'); monkeypatch.setenv('RANK', '0'); monkeypatch.setenv('LOCAL_RANK', '0'); monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    with pytest.raises(ValueError, match=r"LOCAL_WORLD_SIZE 2: torchrun started 2 processes on this machine, which has 1 CUDA device"):
        T._dist_setup('cuda')

def test_a_machine_error_is_printed_by_each_rank_that_meets_it(capsys, monkeypatch):
    # several machines: the one short of GPUs may hold no rank 0, so its processes name themselves
    from sbn_estimators.cli import MachineError
    def _short(args): raise MachineError("LOCAL_RANK 1 but this machine has 1 CUDA device(s); start at most 1 processes per machine")
    monkeypatch.setenv('WORLD_SIZE', '4'); monkeypatch.setenv('RANK', '3')
    code, err = _toy(capsys, _short)
    assert code == 2 and err == "toy: [rank 3] error: LOCAL_RANK 1 but this machine has 1 CUDA device(s); start at most 1 processes per machine\n"

def test_the_trainer_raises_machine_errors(monkeypatch):
    import torch
    from sbn_estimators import train as T
    from sbn_estimators.cli import MachineError
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: None)
    monkeypatch.setenv('WORLD_SIZE', '4'); monkeypatch.setenv('RANK', '3'); monkeypatch.setenv('LOCAL_RANK', '1'); monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    with pytest.raises(MachineError, match="LOCAL_RANK 1 but this machine has 1 CUDA device"): T._dist_setup('cuda')
