"Review s58 (fx3): `sbn-train` (nbs/14_train.ipynb): --list with a transform without a docstring, default run folders of runs started in the same second, the final line's loss format, the resume hint's quoting on Windows, the --stages example."
import functools, json, shlex
from pathlib import Path
from unittest import mock
import pytest
import sbn_estimators.train as tr
from sbn_estimators import cli
from sbn_estimators.models import MODEL_TRANSFORMS
from sbn_estimators.train import TrainConfig, list_text, train_cli


@pytest.mark.parametrize('doc', [None, '', '   \n  '])
def test_list_takes_a_transform_without_a_docstring(monkeypatch, doc):
    def nodoc(model): return model
    nodoc.__doc__ = doc
    monkeypatch.setitem(MODEL_TRANSFORMS, 'nodoc_s58', nodoc)
    assert '  nodoc_s58: (no description)' in list_text().splitlines()
    assert '  decouple: ' in list_text()   # the library's own, as before


def test_runs_in_the_same_second_take_different_default_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with mock.patch('time.strftime', return_value='20260101-000000'):
        a, b = (tr._default_out(TrainConfig(), claim=True) for _ in range(2))
    assert a != b and a.is_dir() and b.is_dir() and not any(a.iterdir()), (a, b)
    assert (a.name, b.name) == ('20260101-000000_digits_sbn_mlp_st_seed0', '20260101-000000_digits_sbn_mlp_st_seed0-2')


def test_a_run_failing_before_its_folder_leaves_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    def failing(cfg, out=None, **kw):
        seen.append(Path(out)); assert Path(out).is_dir()   # claimed before the data and the model are built
        raise ValueError('no data')
    monkeypatch.setattr(tr, 'train', failing)
    with pytest.raises(SystemExit) as e: train_cli(['--threads', '1', '--quiet'])
    assert e.value.code == 2 and len(seen) == 1
    assert not seen[0].exists() and not (tmp_path / 'runs').exists()   # nor the runs/ it made
    (tmp_path / 'runs' / 'other').mkdir(parents=True)   # a runs/ that holds other runs stays
    with pytest.raises(SystemExit): train_cli(['--threads', '1', '--quiet'])
    assert not seen[1].exists() and sorted(p.name for p in (tmp_path / 'runs').iterdir()) == ['other']


def test_the_final_line_writes_a_huge_loss_in_exponent_form(tmp_path, capsys):
    train_cli(['--threads', '1', '--quiet', '--optimizer', 'sgd', '--lr', '1e30', '--epochs', '2', '--model', 'sbn_mlp:width=32', '--out', str(tmp_path / 'r')])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    loss = json.loads((tmp_path / 'r' / 'result.json').read_text())['test_loss']
    assert loss > 1e4 and f"expected test loss {loss:.4g};" in line, line
    train_cli(['--threads', '1', '--quiet', '--epochs', '2', '--model', 'sbn_mlp:width=32', '--out', str(tmp_path / 's')])   # a usual loss: four decimals, as before
    loss = json.loads((tmp_path / 's' / 'result.json').read_text())['test_loss']
    assert f"expected test loss {loss:.4f};" in capsys.readouterr().out


def test_the_resume_hint_quotes_for_the_machine(tmp_path):
    run = tmp_path / 'my run'; run.mkdir(); (run / 'last.pt').touch()
    args = tr._parser().parse_args(['--out', str(run)])
    assert tr._resume_hint(args) == f"sbn-train --resume --out {shlex.quote(str(run))}"
    with mock.patch.object(cli, 'command_line', functools.partial(cli.command_line, windows=True)):   # as on Windows
        assert tr._resume_hint(args) == f'sbn-train --resume --out "{run}"'


def test_the_stages_example_of_the_help_runs_as_it_says(capsys):
    help_text = ' '.join(tr._parser().format_help().split())
    assert 'e.g. with --model duo_mlp' in help_text, help_text
    example = help_text.split('--model duo_mlp')[1].split("'")[1]
    train_cli(['--threads', '1', '--smoke', '--model', 'duo_mlp', '--stages', example])
    assert capsys.readouterr().out.startswith('smoke run of duo_mlp / st on digits: built, 2 stage(s)')
