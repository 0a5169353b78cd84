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
