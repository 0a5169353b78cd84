"Review fixes: plugins cannot take built-in model names and leave nothing behind when they fail; register_model checks its arguments; model and conv argument checks."
import os, subprocess, sys, textwrap
import numpy as np
import pytest
import torch
from sbn_estimators.estimators import ESTIMATORS, estimator, load_plugins
from sbn_estimators.models import MODELS, MODEL_TRANSFORMS, get_model, register_model
from sbn_estimators.biper import BiPer, expected_quantization_error, quantization_error
from sbn_estimators.sbn_conv import SBNConvNet
from sbn_estimators.train import list_text

ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}

@pytest.mark.parametrize('what,taken,owner', [('register_model', "'duo_mlp', 'layered', (None,), 'digits', 'x'", 'binaryduo'),
                                              ('register_transform', "'decouple'", 'binaryduo'),
                                              ('register_model', "'fmnist_biper_conv', 'layered', (None,), 'digits', 'x'", 'biper')])
def test_plugin_cannot_take_a_builtin_model_name_in_a_fresh_process(tmp_path, what, taken, owner):
    "load_plugins imports the modules that register models first: the plugin is refused and the registry still works."
    (tmp_path / 'clash.py').write_text(textwrap.dedent(f'''
        from sbn_estimators.models import {what}
        @{what}({taken})
        def mine(est=None, in_shape=(64,), n_out=10): pass
        '''))
    code = textwrap.dedent(f'''
        import sys
        from sbn_estimators.estimators import load_plugins
        from sbn_estimators.models import get_model
        assert 'sbn_estimators.{owner}' not in sys.modules
        try: load_plugins({str(tmp_path / 'clash.py')!r})
        except ValueError as e: print(e)
        else: sys.exit('the plugin took a built-in name')
        get_model('sbn_mlp', in_shape=(64,))
        ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert r.returncode == 0 and f"is already registered by sbn_estimators.{owner}." in r.stdout, r.stdout + r.stderr

def test_a_plugin_that_fails_on_import_leaves_no_registrations(tmp_path):
    (tmp_path / 'half_broken.py').write_text(textwrap.dedent('''
        from sbn_estimators.estimators import register_estimator
        from sbn_estimators.straight_through import ST
        from sbn_estimators.models import register_model, register_transform, sbn_mlp
        @register_estimator('half_st_broken', aliases=('hsb',))
        class HalfST(ST): pass
        @register_model('half_broken_mlp', 'sbn', (None,), 'digits', 'x')
        def half_broken_mlp(est=None, in_shape=(64,), n_out=10): return sbn_mlp(est, in_shape, n_out)
        register_transform('half_broken_t')(lambda model: model)
        raise RuntimeError('plugin broke')
        '''))
    load_plugins('')   # the built-in estimators and models, registered before the snapshot
    before = [dict(r) for r in (ESTIMATORS, MODELS, MODEL_TRANSFORMS)]
    with pytest.raises(ValueError, match='failed on import: RuntimeError: plugin broke'): load_plugins(str(tmp_path / 'half_broken.py'))
    assert [dict(r) for r in (ESTIMATORS, MODELS, MODEL_TRANSFORMS)] == before
    with pytest.raises(ValueError, match="unknown estimator 'hsb'"): estimator('hsb')

def test_biper_width_error_names_its_model(capsys):
    with pytest.raises(ValueError, match="model 'fmnist_biper_conv': width must be a positive integer, got 0"):
        get_model('fmnist_biper_conv', 'st', in_shape=(1, 28, 28), width=0)

@pytest.mark.parametrize('shape', [None, 64, (), (0,), ('a',), (3, -1, 2), (True,), (2.0,), [None]])
def test_register_model_checks_input_shape(shape):
    with pytest.raises(ValueError, match=r"input_shape must be a non-empty tuple of None or positive integers, got " + repr(shape).replace('(', r'\(').replace(')', r'\)').replace('[', r'\[').replace(']', r'\]')):
        register_model('x_bad_shape', 'sbn', shape, 'digits', 'x')
    assert 'x_bad_shape' not in MODELS

def test_register_model_refuses_builder_parameters_without_defaults():
    with pytest.raises(ValueError, match="model 'x_no_default': builder parameter width has no default"):
        register_model('x_no_default', 'sbn', (None,), 'digits', 'x')(lambda est, in_shape, n_out, width: None)
    assert 'x_no_default' not in MODELS
    register_model('x_kw_ok', 'sbn', (None,), 'digits', 'x')(lambda est, in_shape, n_out, width=3, **kw: None)   # est, in_shape, n_out and **kw need none
    assert MODELS.pop('x_kw_ok').params == {'width': 3}

def test_dtype_is_shown_as_the_spec_takes_it():
    assert 'dtype=float32' in list_text() and 'torch.float32' not in list_text()
    with pytest.raises(ValueError, match=r"valid parameters: .*dtype=float32"): get_model('sbn_mlp', in_shape=(64,), widht=3)
    test = get_model('sbn_mlp:dtype=float32', in_shape=(64,))
    assert next(test.parameters()).dtype == torch.float32
    assert next(get_model('sbn_mlp', in_shape=(64,), dtype=torch.float64).parameters()).dtype == torch.float64

@pytest.mark.parametrize('convs,got', [([(2, (3, 5), 1, 0)], '(2, (3, 5), 1, 0)'), ([(2.0, 3, 1, 0)], '(2.0, 3, 1, 0)'),
                                       ([(True, 3, 1, 0)], '(True, 3, 1, 0)'), ([(2, 3, 1, 0), (2, 3, 1, 0.5)], '(2, 3, 1, 0.5)')])
def test_sbn_conv_needs_integer_convs(convs, got):
    with pytest.raises(ValueError, match=rf"conv {len(convs) - 1}: out_channels, kernel, stride and padding must be integers, got {got.replace('(', '[(]').replace(')', '[)]')}"):
        SBNConvNet((1, 9, 9), convs, 2)

def test_sbn_conv_stores_numpy_integers_as_int():
    net = SBNConvNet((1, 5, 5), [tuple(np.int64(v) for v in (2, 3, 1, 0))], 2)
    assert net.convs == [(2, 3, 1, 0)] and all(type(v) is int for v in net.convs[0])

def test_get_model_strips_the_name():
    assert get_model(' sbn_mlp ', in_shape=(64,), width=8).sizes == [64, 8, 8, 10]

def test_a_module_plugin_in_this_folder_suggests_its_file(tmp_path, monkeypatch):
    (tmp_path / 'myplug_here.py').write_text('')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"no module named 'myplug_here'.*give myplug_here\.py \(a file path\) or run with PYTHONPATH=\."):
        load_plugins('myplug_here')

def test_float_arguments_accept_numpy_floats():
    m = get_model('binaryduo_vgg7', 'st', in_shape=(3, 32, 32), width=np.float32(0.5))
    assert m.features[0].out_channels == 32
    b = BiPer(np.float32(4.0), tau=np.float32(0.5))
    assert type(b.freq) is float and type(b.tau) is float and b.freq == 4.0
    assert expected_quantization_error(np.float32(20.), np.float32(0.1)) == pytest.approx(expected_quantization_error(20., 0.1), rel=1e-5)
    w = torch.tensor([0.3, -0.7])
    assert quantization_error(w, np.float32(2.)) == quantization_error(w, 2.)
    m = get_model('fmnist_biper_conv', 'st', in_shape=(1, 28, 28), freq=np.float32(4.), tau=np.float64(0.5))
    assert {(type(b.freq), b.freq, type(b.tau)) for b in m.modules() if isinstance(b, BiPer)} == {(float, 4.0, float)}
    with pytest.raises(ValueError, match='width must be a number, got True'): get_model('binaryduo_vgg7', 'st', in_shape=(3, 32, 32), width=True)
    with pytest.raises(ValueError, match='freq must be a positive number, got True'): BiPer(True)
