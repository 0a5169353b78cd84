"The shared command-line conventions (`sbn_estimators.cli`): exit statuses, signals, output paths, progress, config files."
import argparse, ast, dataclasses, io, json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from conftest import ROOT
from sbn_estimators import cli

# A toy command run in a child process, as a console script would run it.
TOY = textwrap.dedent("""
    import argparse, sys, time
    from pathlib import Path
    from sbn_estimators.cli import *

    def main(args):
        if args.mode == 'epochs':
            with progress(total=args.n * 50, desc='train', unit='step') as bar:
                for epoch in range(args.n):
                    for step in range(50):
                        bar.update()
                    epoch_line('epoch', epoch + 1, args.n, loss=1 / (epoch + 1))
        elif args.mode == 'wait':
            try:
                print('ready', flush=True)
                time.sleep(60)
            finally:
                Path('cleanup-ran').write_text('yes')
        elif args.mode == 'value': raise ValueError("bad value:\\n  second line")
        elif args.mode == 'missing': open('no/such/file')
        elif args.mode == 'bug': raise RuntimeError("a bug")
        elif args.mode == 'diverged': raise CommandError("loss is nan at epoch 2, step 7; try a smaller --lr", status=1)
        elif args.mode == 'lines': print('\\n'.join(map(str, range(args.n))))

    p = argparse.ArgumentParser(prog='toy')
    p.add_argument('mode')
    p.add_argument('--n', type=positive_int, default=3)
    run_cli(p, main, resume_hint=lambda args: 'toy wait --resume')
""")


@pytest.fixture
def toy(tmp_path):
    (tmp_path / 'toy.py').write_text(TOY)
    def run(*args, **kw):
        return subprocess.run([sys.executable, 'toy.py', *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, **kw)
    return run


def test_exit_statuses_and_one_line_errors(toy):
    r = toy('value')
    assert (r.returncode, r.stderr) == (2, "toy: error: bad value: second line\n")
    r = toy('bug')   # not a user error: Python's traceback, status 1
    assert r.returncode == 1 and 'Traceback' in r.stderr and 'RuntimeError: a bug' in r.stderr


def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path, toy):
    "`sbn-train --list | head -1`: the pipe closes under the command; exit 1 with one note on stderr, no traceback."
    p = subprocess.Popen([sys.executable, 'toy.py', 'lines', '--n', '200000'], cwd=tmp_path,   # 1.3 MB: more than a pipe holds
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read(); p.wait(timeout=120)
    assert (p.returncode, err) == (1, "toy: stdout was closed before all output was written\n")


def status(main, argv=(), capsys=None):
    "(exit status, stderr) of `main` under `run_cli`, in this process."
    p = argparse.ArgumentParser(prog='toy')
    p.add_argument('--n', type=cli.positive_int, default=3)
    try: cli.run_cli(p, main, list(argv)); code = 0
    except SystemExit as e: code = e.code
    return code, capsys.readouterr().err


def test_exit_statuses_in_process(capsys):
    def missing(args): open('no/such/file')
    def value(args): raise ValueError("bad value:\n  second line")
    def diverged(args): raise cli.CommandError("loss is nan at epoch 2, step 7; try a smaller --lr", status=1)
    def locked(args): raise cli.RunFolderLocked("runs/a is in use by process 1")
    code, err = status(missing, capsys=capsys)
    assert code == 2 and err.startswith("toy: error: [Errno 2] No such file or directory") and err.count('\n') == 1
    assert status(diverged, capsys=capsys) == (1, "toy: error: loss is nan at epoch 2, step 7; try a smaller --lr\n")
    assert status(locked, capsys=capsys) == (2, "toy: error: runs/a is in use by process 1\n")
    code, err = status(value, ['--debug'], capsys=capsys)
    assert code == 2 and err.startswith('Traceback') and err.endswith("toy: error: bad value: second line\n")
    assert status(value, ['--n', '0'], capsys=capsys) == (2, "toy: error: argument --n: must be a positive integer, got '0'\n")


@pytest.mark.parametrize('args, message', [
    (['value', '--n', 'x'], "argument --n: must be a positive integer, got 'x'"),
    (['value', '--bogus'], "unrecognized arguments: --bogus"),
    ([], "the following arguments are required: mode"),
])
def test_argparse_errors_are_one_line(toy, args, message):
    "argparse's own errors: `prog: error: <its message>`, exit 2, without the usage block."
    r = toy(*args)
    assert (r.returncode, r.stdout, r.stderr) == (2, '', f"toy: error: {message}\n")


@pytest.mark.parametrize('command, args, message', [
    ('train', ['--epochs', 'x'], "sbn-train: error: argument --epochs: invalid int value: 'x'"),
    ('train', ['--threads', '0'], "sbn-train: error: argument --threads: must be a positive integer, got '0'"),
    ('train', ['--bogus'], "sbn-train: error: unrecognized arguments: --bogus"),
    ('gradeval', ['--samples', '0'], "sbn-gradeval: error: argument --samples: must be a positive integer, got '0'"),
    ('bench', ['--batch', '0'], "sbn-bench: error: argument --batch: must be a positive integer, got '0'"),
    ('bench', ['--dtype', 'float16'], "sbn-bench: error: argument --dtype: invalid choice: 'float16' (choose from 'float32', 'float64')"),
])
def test_the_three_commands_print_argparse_errors_on_one_line(command, args, message, capsys):
    "sbn-train, sbn-gradeval and sbn-bench all parse through `run_cli`: no usage block before the error."
    import importlib
    main = getattr(importlib.import_module(f'sbn_estimators.{command}'), f'{command}_cli')
    with pytest.raises(SystemExit) as e: main(args)
    assert (e.value.code, capsys.readouterr().err) == (2, message + '\n')


def test_progress_prints_one_line_per_epoch_when_stderr_is_not_a_terminal(toy):
    r = toy('epochs', '--n', '4')   # 200 steps
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ['epoch 1/4: loss 1', 'epoch 2/4: loss 0.5', 'epoch 3/4: loss 0.3333', 'epoch 4/4: loss 0.25']


@pytest.mark.skipif(os.name != 'posix', reason="signals to a child process")
@pytest.mark.parametrize('sig, status, message', [(signal.SIGINT, 130, 'toy: interrupted; continue with: toy wait --resume'),
                                                  (signal.SIGTERM, 143, 'toy: terminated (SIGTERM); continue with: toy wait --resume')])
def test_signals_unwind_the_command(tmp_path, toy, sig, status, message):
    (tmp_path / 'toy.py').write_text(TOY)
    p = subprocess.Popen([sys.executable, 'toy.py', 'wait'], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline() == 'ready\n'
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    assert (p.returncode, err) == (status, message + '\n')
    assert (tmp_path / 'cleanup-ran').read_text() == 'yes'   # `finally` blocks ran


def test_sigterm_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    p = argparse.ArgumentParser(prog='t')
    cli.run_cli(p, lambda args: None, [])
    assert signal.getsignal(signal.SIGTERM) is before


def test_main_returning_a_status():
    with pytest.raises(SystemExit) as e: cli.run_cli(argparse.ArgumentParser(prog='t'), lambda args: 3, [])
    assert e.value.code == 3


def test_module_imports_nothing_unix_only_at_top_level():
    "`import sbn_estimators.cli` must work on Windows: fcntl (and resource, pwd, ...) only inside functions."
    tree = ast.parse((ROOT / 'sbn_estimators' / 'cli.py').read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import): top |= {a.name.split('.')[0] for a in node.names}
        if isinstance(node, ast.ImportFrom) and not node.level: top.add(node.module.split('.')[0])   # not the package's own
    assert top <= {'argparse', 'contextlib', 'dataclasses', 'difflib', 'errno', 'json', 'math', 'numbers', 'os', 'pathlib', 'platform', 're', 'shlex', 'shutil', 'signal', 'socket',
                   'subprocess', 'sys', 'tempfile', 'threading', 'time', 'traceback', 'types', 'typing', 'torch', 'tqdm'}, top


def test_run_folder_without_fcntl(tmp_path, monkeypatch):
    "Where fcntl is missing (Windows) the lock still works, by O_EXCL alone."
    monkeypatch.setitem(sys.modules, 'fcntl', None)
    with cli.RunFolder(tmp_path / 'run') as f:
        cli.torch_save(f.path / 'last.pt', {'epoch': 1})
        with pytest.raises(cli.RunFolderLocked): cli.RunFolder(tmp_path / 'run', resume=True).__enter__()
    assert cli.RunFolder(tmp_path / 'run').resumable


class FakeTerminal(io.StringIO):
    def isatty(self): return True


def test_progress_bar_on_a_terminal(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, 'stderr', term)
    with cli.progress(total=10, desc='train', mininterval=0) as bar:
        for _ in range(10): bar.update()
        cli.epoch_line('epoch', 1, 1, loss=0.5)
    assert 'train' in term.getvalue() and '10/10' in term.getvalue() and '\r' in term.getvalue()
    assert 'epoch 1/1: loss 0.5\n' in term.getvalue()
    monkeypatch.setattr(sys, 'stderr', io.StringIO())   # a file: no bar
    with cli.progress(total=10, desc='train') as bar:
        assert bar.disable
        bar.update(10)
    assert sys.stderr.getvalue() == ''


# ---- output paths

def test_output_file_checks(tmp_path):
    assert cli.check_output_file(tmp_path / 'r.json', '--json', ('.json',)) == tmp_path / 'r.json'
    assert cli.check_output_file(tmp_path / 'R.PNG', '--plot', cli.plot_suffixes())   # suffixes in any case
    cases = [((tmp_path / 'no' / 'r.json', '--json'), f"--json: folder {tmp_path / 'no'} of"),
             ((tmp_path, '--json'), 'is a folder, not a file'),
             ((tmp_path / 'r.xyz', '--plot', cli.plot_suffixes()), "--plot: ", "r.xyz' must end in ", ".png"),
             (('/proc/r.json', '--json'), '--json: cannot write in folder /proc'),
             (('/dev/null', '--json'), '--json: /dev/null exists and is not a regular file')]
    (tmp_path / 'f').write_text('')
    cases.append(((tmp_path / 'f' / 'r.json', '--json'), 'is not a folder'))
    for args, *messages in cases:
        if os.name != 'posix' and str(args[0]).startswith(('/proc', '/dev')): continue
        with pytest.raises(ValueError, match=None) as e: cli.check_output_file(*args)
        assert all(m in str(e.value) for m in messages), (args, str(e.value))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f']   # the checks leave nothing behind


def test_output_dir_checks(tmp_path):
    assert cli.check_output_dir(tmp_path / 'runs' / 'a' / 'b', '--out') == tmp_path / 'runs' / 'a' / 'b'
    assert not (tmp_path / 'runs').exists()
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match="--out: .*f is an existing file, not a folder"): cli.check_output_dir(tmp_path / 'f', '--out')
    with pytest.raises(ValueError, match="is not a folder"): cli.check_output_dir(tmp_path / 'f' / 'run', '--out')
    if os.name == 'posix':
        with pytest.raises(ValueError, match="--out: cannot write in folder /proc"): cli.check_output_dir('/proc/run', '--out')


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    f = tmp_path / 'last.pt'
    with cli.atomic_path(f) as t: t.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with cli.atomic_path(f) as t:
            t.write_bytes(b'half')
            raise RuntimeError
    assert f.read_bytes() == b'old' and [p.name for p in tmp_path.iterdir()] == ['last.pt']


# ---- config files

@dataclasses.dataclass
class Config:
    epochs: int = 10
    lr: float = 0.1
    amp: bool = False
    data_dir: str | None = None
    sizes: tuple = (2, 5, 1)
    widths: list[int] = dataclasses.field(default_factory=list)
    optimizer: 'str' = 'sgd'   # a string annotation, as under `from __future__ import annotations`


@pytest.mark.parametrize('text, message', [
    ('[1, 2]', 'must hold a JSON object {"key": value, ...}, got a list'),
    ('null', 'got null'), ('3', 'got a number'), ('"epochs"', 'got a string'), ('true', 'got true/false'),
    ('{"epochs": "ten"}', "'epochs' must be int, got 'ten' (a string)"),
    ('{"epochs": 3.5}', "'epochs' must be int, got 3.5 (a number)"),
    ('{"epochs": true}', "'epochs' must be int, got True (true/false)"),
    ('{"lr": "0.1"}', "'lr' must be float, got '0.1' (a string)"),
    ('{"lr": false}', "'lr' must be float, got False"),
    ('{"amp": 1}', "'amp' must be bool, got 1 (a number)"),
    ('{"data_dir": 3}', "'data_dir' must be str | None, got 3"),
    ('{"widths": [1, "a"]}', "'widths' must be list[int], got [1, 'a'] (a list)"),
    ('{"optimizer": null}', "'optimizer' must be str, got None (null)"),
    ('{"epoch": 3}', "unknown key 'epoch' (did you mean 'epochs'?); valid keys: epochs, lr, amp, data_dir, sizes, widths, optimizer"),
    ('{"lr": NaN}', 'is not valid JSON: NaN is not a JSON number'),
    ('{"lr": Infinity}', 'Infinity is not a JSON number'),
    ('{"epochs": 3,}', 'is not valid JSON: '),
    ('', 'is not valid JSON: '),
])
def test_load_config_refuses(tmp_path, text, message):
    path = tmp_path / 'c.json'
    path.write_text(text)
    with pytest.raises(ValueError) as e: cli.load_config(path, Config)
    assert str(e.value).startswith(f'config file {path}') and message in str(e.value), str(e.value)
    assert '\n' not in str(e.value)


def test_load_config_accepts(tmp_path):
    path = tmp_path / 'c.json'
    path.write_text('{"epochs": 3, "lr": 1, "amp": true, "data_dir": null, "sizes": [2, 3], "widths": [4], "optimizer": "adam"}')
    d = cli.load_config(path, Config)
    assert d == dict(epochs=3, lr=1.0, amp=True, data_dir=None, sizes=(2, 3), widths=[4], optimizer='adam')
    assert type(d['lr']) is float
    Config(**d)
    with pytest.raises(FileNotFoundError, match="config file .*nope.json does not exist"): cli.load_config(tmp_path / 'nope.json', Config)
    (tmp_path / 'bin.json').write_bytes(b'\xff\xfe\x00')
    with pytest.raises(ValueError, match="cannot read config file"): cli.load_config(tmp_path / 'bin.json', Config)


def test_config_literal_fields_take_only_their_values():
    import dataclasses, typing
    import pytest
    from sbn_estimators.cli import check_config
    @dataclasses.dataclass
    class Opt:
        optimizer: typing.Literal['adam', 'sgd'] = 'adam'
    assert check_config({'optimizer': 'sgd'}, Opt) == {'optimizer': 'sgd'}
    with pytest.raises(ValueError, match="'optimizer' must be Literal"): check_config({'optimizer': 'adamw'}, Opt)
