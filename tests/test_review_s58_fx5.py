"Review s58, fixes fx5: sbn-gradeval writes its report and plot before it prints the table (a reader that left stdout early loses no file); its plot defaults to the --json file's name with .png; the resume command is quoted for cmd.exe on Windows."
import json, subprocess, types
import pytest
from conftest import console_script
import functools
import sbn_estimators.gradeval as ge
from sbn_estimators.cli import command_line
from sbn_estimators.gradeval import gradeval_cli

GRADEVAL = console_script('sbn-gradeval')
FAST = ['--epochs', '0', '--estimators', 'exact,st', '--samples', '40', '--chunk', '20', '--threads', '1', '--quiet']


def _call(args, capsys):
    try: gradeval_cli(list(args)); code = 0
    except SystemExit as e: code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_a_reader_that_left_stdout_loses_no_file(tmp_path):
    "`sbn-gradeval ... | true`: the table meets a closed pipe; the report and the plot were written before it (was: only the .partial)."
    p = subprocess.Popen([GRADEVAL, *FAST, '--json', 'gp.json', '--plot', 'gp.png'], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.close()   # the reader is gone long before the run prints its table
    p.wait(timeout=300)
    assert json.loads((tmp_path / 'gp.json').read_text())['samples'] == 40
    assert (tmp_path / 'gp.png').stat().st_size > 1000
    assert not (tmp_path / 'gp.json.partial').exists()   # the finished report replaced it


def test_the_plot_defaults_to_the_reports_name(tmp_path, monkeypatch, capsys):
    "--json a.json without --plot: a.png beside it, so runs with their own reports do not share (and lock) gradeval.png."
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'sub').mkdir()
    for js, png in (('a.json', 'a.png'), ('sub/b.json', 'sub/b.png')):
        code, out, err = _call([*FAST, '--json', js], capsys)
        assert code == 0, err
        assert (tmp_path / png).stat().st_size > 1000 and out.splitlines()[-1] == f"wrote {js} and {png}", out
    assert not (tmp_path / 'gradeval.png').exists()
    code, out, err = _call([*FAST, '--json', 'c.json', '--plot', 'c.svg'], capsys)   # a named plot is kept
    assert code == 0 and (tmp_path / 'c.svg').exists() and not (tmp_path / 'c.png').exists(), err
    code, out, err = _call(FAST, capsys)   # no --json: gradeval.json and gradeval.png, as before
    assert code == 0 and out.splitlines()[-1] == "wrote gradeval.json and gradeval.png", out
    code, out, err = _call(['--help'], capsys)
    text = ' '.join(out.split())
    assert '(default: gradeval.png); left out where --json OUT.json is given: OUT.png, beside the report' in text, text


def test_the_resume_command_is_quoted_for_the_shell_that_runs_it(tmp_path, monkeypatch, capsys):
    "An interrupted run's `continue with:` line: POSIX quoting (shlex.join), and on Windows cmd.exe's (subprocess.list2cmdline)."
    monkeypatch.chdir(tmp_path)
    def interrupted(*args, on_estimator, **kw):   # the first estimator saved, then Ctrl-C
        on_estimator(dict(estimators={})); raise KeyboardInterrupt
    monkeypatch.setattr(ge, 'gradient_report', interrupted)
    args = [*FAST, '--json', 'my run.json']
    for os_name, hint in (('posix', "sbn-gradeval --epochs 0 --estimators exact,st --samples 40 --chunk 20 --threads 1 --quiet --json 'my run.json' --resume"),
                          ('nt', 'sbn-gradeval --epochs 0 --estimators exact,st --samples 40 --chunk 20 --threads 1 --quiet --json "my run.json" --resume')):
        monkeypatch.setattr(ge.cli, 'command_line', functools.partial(command_line, windows=os_name == 'nt'))   # as on that system
        (tmp_path / 'my run.json.partial').unlink(missing_ok=True)   # each run starts afresh
        code, out, err = _call(args, capsys)
        assert code == 130 and err.splitlines() == [f"sbn-gradeval: interrupted; continue with: {hint}"], err
