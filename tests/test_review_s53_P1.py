"Review s53, P1: the BinaryDuo VGG-7 recipes do not claim the paper's schedule (they use cosine where the reference code steps)."
import pytest
from sbn_estimators.train import RECIPES

@pytest.mark.parametrize('name', ['binaryduo_vgg7_cifar', 'binaryduo_vgg7_baseline'])
def test_binaryduo_vgg7_recipes_say_after_and_cosine(name):
    r = RECIPES[name]
    assert r.config['schedule'] == 'cosine'
    d = r.description
    assert not d.startswith('BinaryDuo paper') and d.startswith('ours, after BinaryDuo')
    assert 'cosine' in d and '121' in d and '161' in d
