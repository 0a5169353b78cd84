"sbn-train's refusals suggest only fixes that work: exact's limit without max_bytes= (and a layer over 62 units named as such), decouple only for estimators a decoupled unit takes; a builder's message naming the model with its parameters is not prefixed again."
import pytest, torch
from sbn_estimators.train import train_cli
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.exact import check_enumerable
from sbn_estimators.models import get_model

def _err(capsys, *argv):
    with pytest.raises(SystemExit) as e: train_cli(['--smoke', '--threads', '1', '--quiet', *argv])
    return e.value.code, capsys.readouterr().err

def test_exact_limit_hint_names_the_environment_variable(capsys, monkeypatch):
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', '1e6')
    code, err = _err(capsys, '--estimator', 'exact', '--model', 'sbn_mlp:width=20')
    assert code == 2 and 'network too large to enumerate' in err and 'max_bytes=' not in err
    monkeypatch.delenv('SBN_EXACT_MAX_BYTES')
    code, err = _err(capsys, '--estimator', 'exact', '--model', 'sbn_mlp:width=30')   # the default limit: the hint of the command
    assert code == 2 and 'set the environment variable SBN_EXACT_MAX_BYTES' in err and 'max_bytes=' not in err

def test_a_layer_over_62_units():
    with pytest.raises(ValueError, match=r"binary layer widths \[63\]: a layer of more than 62 units has more states"):
        check_enumerable(SBNMLP([2, 63, 1]), max_bytes=float("inf"))

def test_library_hint_keeps_max_bytes():
    with pytest.raises(ValueError, match=r"set max_bytes= or SBN_EXACT_MAX_BYTES"): check_enumerable(SBNMLP([2, 40, 1]))

@pytest.mark.parametrize('est,decouple', [('concrete', False), ('gumbel_rao', False), ('clipped_st', True), ('st', True)])
def test_decouple_offered_only_where_it_works(est, decouple, capsys):
    code, err = _err(capsys, '--model', 'duo_mlp', '--estimator', est)
    assert code == 2 and f'--estimator {est} is not used' in err
    assert ('decouple the units in a later stage' in err) == decouple
    if not decouple: assert 'nor could it be the backward of decoupled units' in err

def test_builder_message_not_prefixed_twice():
    with pytest.raises(ValueError) as e: get_model('binaryduo_vgg7:units=zero_one', 'concrete', (3, 32, 32), 10)
    assert str(e.value).count('model ') >= 1 and not str(e.value).startswith("model 'binaryduo_vgg7': model")

def test_a_layer_over_62_units_under_the_default_limit(capsys):
    # refused as such first: raising the memory limit would not help
    with pytest.raises(ValueError, match=r"a layer of more than 62 units has more states"): check_enumerable(SBNMLP([2, 63, 1]))
    code, err = _err(capsys, '--estimator', 'exact', '--model', 'sbn_mlp:width=63')
    assert code == 2 and 'a layer of more than 62 units' in err and 'SBN_EXACT_MAX_BYTES' not in err
