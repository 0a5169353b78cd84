"Every recipe that `sbn-train --list` shows builds and trains: `--smoke` (two steps per stage, one evaluation, nothing written)."
import pytest, torch
from sbn_estimators.train import RECIPES, train_cli, list_text

torch.set_num_threads(1)
LISTED = [l.split(':')[0].strip() for l in list_text().split('recipes:\n')[1].split('\n\n')[0].splitlines()]

def test_list_shows_every_recipe():
    assert LISTED == list(RECIPES)

@pytest.mark.parametrize('recipe', LISTED)
def test_recipe_smoke(recipe, tmp_path, monkeypatch, capsys):
    "Build everything the recipe names (generated data where the dataset is not on disk), two steps, one evaluation."
    monkeypatch.chdir(tmp_path)
    samples = [] if RECIPES[recipe].config.get('model', '').startswith(('duo_', 'binaryduo_vgg7:units=zero_one')) else ['--eval-samples', '1']   # BinaryDuo's nets sample nothing: refused
    train_cli(['--recipe', recipe, '--smoke', '--batch-size', '2', *samples, '--threads', '1'])
    assert 'nothing written' in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []          # writes nothing (no runs/ folder, no data)
