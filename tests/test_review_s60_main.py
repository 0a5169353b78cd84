"Session 60's checks of the repository itself."
import shutil, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The design card's top level, and what the project needs beside it (CI, tools, licence, citation, pins, packaging).
TOP_LEVEL = {'.ci', '.gitignore', 'CITATION.cff', 'LICENSE', 'MANIFEST.in', 'README.md', 'constraints.txt', 'docs',
             'nbs', 'pytest.ini', 'sbn_estimators', 'settings.ini', 'setup.py', 'tests', 'tools'}

def test_no_stray_files_tracked_at_the_top_level():
    "A manual run's output (cb.err and cb.out of an sbn-bench run were committed once) is not part of the project."
    if shutil.which('git') is None or not (ROOT/'.git').exists(): pytest.skip('not a git checkout')
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    stray = sorted({f.split('/')[0] for f in files} - TOP_LEVEL)
    assert not stray, f'tracked at the top level but not part of the project: {stray}'


@pytest.mark.parametrize('spec, scheduled, why', [
    ('rbnn:t_min=0.5,t_floor=1', False, 'the floor t_floor sets t'),
    ('rbnn:t_floor=0.005', True, 'a floor at or below t_min never acts'),
    ('rbnn:t_max=3', False, 'only the schedule reads it'),
    ('ede:t_max=5', False, 'only the schedule reads it'),
    ('progressive_sign:scale=0.5', True, 'the schedule sets it from the first epoch')])
def test_a_moot_parameter_is_refused_with_its_own_reason(spec, scheduled, why):
    "RBNN's floor makes t_min (or itself) moot for another reason than the schedule: the message said the schedule's."
    from sbn_estimators.estimators import estimator, check_schedule_params
    with pytest.raises(ValueError, match=why): check_schedule_params(estimator(spec), scheduled)


def test_resume_hint_expands_a_quoted_home(tmp_path, monkeypatch):
    "`--out '~/run'` (quoted: the shell left the ~) is expanded by sbn-train; the resume hint looked for ./~/run/last.pt and gave none."
    import argparse
    from sbn_estimators.train import _resume_hint
    monkeypatch.setenv('HOME', str(tmp_path)); monkeypatch.chdir(tmp_path.parent)
    (tmp_path/'run').mkdir(); (tmp_path/'run'/'last.pt').write_bytes(b'')
    hint = _resume_hint(argparse.Namespace(out='~/run', export=False, threads=None))
    assert hint is not None and '--resume' in hint and '~/run' in hint


def test_a_dataset_flattened_by_the_trainer_pickles(tmp_path):
    "sbn_mlp on image data reads flat input: the trainer's flattening transform was a closure, so the dataset no longer pickled."
    import pickle, torch
    from sbn_estimators.data import write_fake_cifar10
    from sbn_estimators.train import TrainConfig, load_data
    write_fake_cifar10(tmp_path, n_per_batch=4)
    d = load_data(TrainConfig(model='sbn_mlp', data='cifar10', data_dir=str(tmp_path), val=5))
    X = d.splits['test'][0][:3]
    assert d.input(X).shape == (3, 3 * 32 * 32)
    assert torch.equal(pickle.loads(pickle.dumps(d)).input(X), d.input(X))
