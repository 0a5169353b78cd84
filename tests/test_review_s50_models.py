"Review s50: a bad value that a model's builder finds is reported for the model it is for (nbs/12_models.ipynb, `get_model`)."
import subprocess, sys
import pytest
from sbn_estimators.models import get_model

def test_builder_errors_name_the_model():
    with pytest.raises(ValueError, match=r"^model 'sbn_mlp': unknown noise 'gauss'; valid noises: "): get_model('sbn_mlp:noise=gauss', 'st', in_shape=(4,))

def test_cli_names_the_model():
    r = subprocess.run([sys.executable, '-m', 'sbn_estimators.train', '--model', 'sbn_mlp:noise=gauss', '--smoke', '--threads', '1'], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("sbn-train: error: model 'sbn_mlp': unknown noise 'gauss'"), r.stderr
