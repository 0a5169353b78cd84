"Review s51, fix K: one CLI convention for sbn-train and sbn-bench (03b_cli's `run_cli`): --list refuses what it ignores, --quiet / --no-progress, --version, the exit statuses in --help, thread defaults stated, --device named as typed."
import argparse, contextlib, io
import pytest, torch
import sbn_estimators
from sbn_estimators import cli
from conftest import sbn_train

torch.set_num_threads(1)


def _run(fn, argv, capsys):
    "(exit status, stdout, stderr) of a command's entry point called in this process."
    try: fn(list(argv)); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err

def bench(capsys, *argv):
    from sbn_estimators.bench import bench_cli
    return _run(bench_cli, argv, capsys)

def train(capsys, *argv): return sbn_train(capsys, *argv)

def helptext(fn, capsys):
    code, out, _ = _run(fn, ['--help'], capsys)
    assert code == 0
    return ' '.join(out.split())


# 2. --list: one shared check, naming every option it takes

def test_bench_list_refuses_options_it_ignores(capsys):
    code, out, err = bench(capsys, '--list', '--nets', 'bogus')   # was: exit 0, --nets ignored
    assert code == 2 and not out and err == ("sbn-bench: error: --list prints what sbn-bench offers and exits: it takes only "
                                             "--threads, --plugins, --quiet, --debug, got --nets; drop it\n"), err
    code, out, err = bench(capsys, '--list', '--nets', 'fc,cifar', '--repeats', '5')   # given with the default value: refused too
    assert code == 2 and 'got --nets, --repeats; drop them' in err, err
    code, out, err = bench(capsys, '--list', '--threads', '1', '--quiet', '--debug')
    assert code == 0 and 'networks:' in out, (out, err)

def test_gradeval_list_refuses_options_it_ignores(capsys):
    from sbn_estimators.gradeval import gradeval_cli
    code, out, err = _run(gradeval_cli, ['--list', '--estimators', 'bogus', '--json', 'x.json'], capsys)   # was: exit 0, both ignored
    assert code == 2 and not out and err == ("sbn-gradeval: error: --list prints what sbn-gradeval offers and exits: it takes only "
                                             "--threads, --quiet, --plugins, --debug, got --estimators, --json; drop them\n"), err
    code, out, err = _run(gradeval_cli, ['--list', '--threads', '1', '--quiet'], capsys)
    assert code == 0 and out.startswith('NAME[:parameter=default,...]'), (out, err)


def test_train_list_message_names_every_option_it_takes(capsys):
    code, out, err = train(capsys, '--list', '--seed', '1')
    assert code == 2 and not out and err == ("sbn-train: error: --list prints what sbn-train offers and exits: it takes only "
                                             "--plugins, --threads, --quiet, --debug, got --seed; drop it\n"), err
    code, out, err = train(capsys, '--list', '--threads', '1', '--no-progress', '--debug')
    assert code == 0 and 'which estimator trains which kind of model' in out, (out, err)

def test_check_list_only_names_negated_flags_and_positionals():
    p = argparse.ArgumentParser(prog='demo')
    p.add_argument('net', nargs='?'); p.add_argument('--list', action='store_true')
    p.add_argument('--aug', action=argparse.BooleanOptionalAction, default=None); p.add_argument('--plugins', default='')
    cli.check_list_only(p, ['--list', '--plugins', 'x.py'], ('plugins',))   # accepted
    with pytest.raises(ValueError, match=r"^--list prints what demo offers and exits: it takes only --plugins, got NET, --no-aug; drop them$"):
        cli.check_list_only(p, ['--list', 'n.npz', '--no-aug'], ('plugins',))
    assert p.get_default('net') is None and p.get_default('plugins') == ''   # the defaults are left as they were


# 4. --no-progress in sbn-train, --quiet in sbn-bench

def test_train_takes_no_progress(capsys):
    from sbn_estimators.train import _parser
    assert _parser().parse_args(['--no-progress']).quiet is True   # was: unrecognized arguments

@pytest.mark.parametrize('flag', ['--quiet', '--no-progress'])
def test_bench_quiet_drops_the_status_lines_only(capsys, flag):
    args = ['--nets', 'fc', '--estimators', 'float', '--devices', 'cpu', '--batch', '2', '--repeats', '1', '--threads', '1']
    code, out, err = bench(capsys, *args, flag)
    assert code == 0 and 'fc   cpu' in out and 'float' in out, (out, err)
    assert 'fc on cpu ...' not in err and 'warning: no st in --estimators' in err, err   # the warnings stay
    code, out, err = bench(capsys, *args)
    assert code == 0 and 'sbn-bench: fc on cpu ...' in err, err


# 6. --threads: each help states its default and why

def test_threads_help_states_default_and_why(capsys):
    from sbn_estimators.train import train_cli
    from sbn_estimators.bench import bench_cli
    t = helptext(train_cli, capsys)
    assert "--threads THREADS CPU threads for PyTorch (default: PyTorch's choice, good for large nets; give 1 for the small MLPs" in t, t
    assert '1 is fastest for the small default net' not in t
    b = helptext(bench_cli, capsys)
    assert f"(default: PyTorch's choice, {torch.get_num_threads()} here: the timings of a run that sets none; give 1" in b, b


# 7. --version and the exit statuses in every command's help

@pytest.mark.parametrize('module, fn, prog', [('train', 'train_cli', 'sbn-train'), ('bench', 'bench_cli', 'sbn-bench'),
                                              ('gradeval', 'gradeval_cli', 'sbn-gradeval')])
def test_version_and_exit_statuses(capsys, module, fn, prog):
    import importlib
    entry = getattr(importlib.import_module(f'sbn_estimators.{module}'), fn)
    code, out, err = _run(entry, ['--version'], capsys)
    assert code == 0 and out == f'{prog} {sbn_estimators.__version__}\n', (out, err)
    h = helptext(entry, capsys)
    assert h.endswith(cli.EXIT_STATUSES), h[-300:]
    for s in ('0 done', '1 the work', '2 bad usage', '130 interrupted', '143 terminated'): assert s in cli.EXIT_STATUSES


# 8. sbn-train's device refusal names the option and the device as typed, before the work

def test_train_device_refused_as_typed(capsys):
    code, out, err = train(capsys, '--device', 'cpu:1', '--smoke', '--threads', '1', '--model', 'sbn_mlp:width=8', '--n-train', '64',
                           '--n-test', '64', '--val', '0')
    assert code == 2 and not out and err == "sbn-train: error: --device: 'cpu:1': the CPU takes no index; give cpu\n", err   # was: device(type='cpu', index=1)
