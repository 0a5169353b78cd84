"Review s62, fix C: one spec, however spelled, is one setting: a model or optimizer spec TrainConfig accepts trains (run_references read 'sbn_mlp :width=8' as the model 'sbn_mlp '), resuming and the config-file check compare specs by meaning, get_model reads every spec TrainConfig reads, and spec errors name what was specified."
import json
from pathlib import Path
import pytest
from sbn_estimators.train import TrainConfig, train, config_from_args, _parser, _differing, _check_same_config
from sbn_estimators.catalogue import run_references
from sbn_estimators.models import get_model
from sbn_estimators.lr_search import _run_diff
from sbn_estimators.estimators import parse_estimator_specs

SMALL = dict(data='digits', epochs=1, n_train=128, val=64, n_test=64)


def test_run_references_reads_specs_as_trainconfig_does():
    want = run_references('st', model='sbn_mlp', optimizer='sgd', data='digits')
    assert run_references('st', model='sbn_mlp :width=8', optimizer='sgd,nesterov=false', data='digits') == want
    assert run_references('st', model='sbn_mlp,width=8', optimizer=' sgd : nesterov=false', data='digits') == want
    with pytest.raises(ValueError, match="model 'nope' is not registered"):
        run_references('st', model='nope:width=8')


def test_a_spaced_model_spec_trains(tmp_path):
    cfg = TrainConfig(**SMALL, model='sbn_mlp :width=8', optimizer='sgd,nesterov=false')
    res = train(cfg, tmp_path / 'run', progress=False)
    assert (tmp_path / 'run' / 'result.json').is_file() and 0 <= res['test_acc'] <= 1


@pytest.mark.parametrize('field, a, b', [
    ('estimator', 'reste: o = 3, t=2', 'reste:t=2.0'),   # the second is the first's `.spec`
    ('estimator', 'dst', 'st:noise=logistic'),
    ('model', 'sbn_mlp: width = 8', 'sbn_mlp:width=8,depth=2'),
    ('optimizer', 'sgd', 'sgd:nesterov=None'),
    ('optimizer', 'bop', 'bop: threshold = 1e-8')])
def test_equal_specs_do_not_differ(field, a, b):
    assert _differing(TrainConfig(**{field: a}), TrainConfig(**{field: b})) == []
    assert _run_diff({field: a}, {field: b}) == ''


@pytest.mark.parametrize('field, a, b', [
    ('estimator', 'reste:t=2', 'reste:t=3'), ('estimator', 'st', 'st:noise=normal'),
    ('model', 'sbn_mlp:width=8', 'sbn_mlp:width=9'), ('optimizer', 'sgd', 'sgd:nesterov=True')])
def test_different_specs_still_differ(field, a, b):
    assert _differing(TrainConfig(**{field: a}), TrainConfig(**{field: b})) == [field]
    assert _run_diff({field: a}, {field: b}).startswith(f'{field}: ')


def test_resume_accepts_the_spec_the_library_prints(tmp_path):
    out = tmp_path / 'run'
    train(TrainConfig(**SMALL, model='sbn_mlp: width = 8, depth=1', estimator='reste: o = 3, t=2'), out, progress=False)
    _check_same_config(TrainConfig(**SMALL, model='sbn_mlp:depth=1,width=8', estimator='reste:t=2.0'), out)
    with pytest.raises(ValueError, match=r"estimator: saved 'reste: o = 3, t=2', given 'reste:t=3'"):
        _check_same_config(TrainConfig(**SMALL, model='sbn_mlp:depth=1,width=8', estimator='reste:t=3'), out)


@pytest.mark.parametrize('est', ['st:noise=logistic', 'st ', 'dst'])
def test_a_config_file_spelling_the_default_estimator_is_accepted(tmp_path, est):
    f = tmp_path / 'c.json'; f.write_text(json.dumps({'data': 'digits', 'model': 'duo_mlp', 'estimator': est, 'epochs': 1}))
    assert config_from_args(_parser().parse_args(['--config', str(f), '--smoke'])).model == 'duo_mlp'
    f.write_text(json.dumps({'data': 'digits', 'model': 'duo_mlp', 'estimator': 'st:noise=normal', 'epochs': 1}))
    with pytest.raises(ValueError, match='is not used'):   # another estimator is still refused
        config_from_args(_parser().parse_args(['--config', str(f), '--smoke']))


def test_get_model_reads_a_spec_without_colon():
    net = get_model('sbn_mlp,width=8', est='st', in_shape=(64,))
    assert [l.out_features for l in net.layers] == [8, 8, 10]


def test_spec_errors_name_what_was_specified():
    with pytest.raises(ValueError, match="no optimizer given; write e.g. 'sgd:nesterov=False'"): TrainConfig(optimizer='')
    with pytest.raises(ValueError, match="comes before any model name"): TrainConfig(model='width=8')
    with pytest.raises(ValueError, match="comes before any optimizer name"): TrainConfig(optimizer='nesterov=false')
    with pytest.raises(ValueError, match="comes before any estimator name"): parse_estimator_specs('tau=1,st')


def test_valid_model_parameters_are_listed_as_a_spec_writes_them():
    with pytest.raises(ValueError, match="valid parameters: width=256, depth=2, noise=logistic, loss=cross_entropy, dtype=float32") as e:
        TrainConfig(model='sbn_mlp:foo=1')
    assert "'logistic'" not in str(e.value)
