"Review s44, fix H: the step of a batch-norm divergence (14), BinaryDuo's {0, 1} units and sampling estimators (12), psa's torch < 2.3 fallback (10), --list with --threads (14)."
import math, re
import pytest, torch
from torch import nn
import sbn_estimators.train as T
import sbn_estimators.psa as psa
import sbn_estimators.straight_through as straight_through
from sbn_estimators.train import TrainConfig, Diverged, train
from conftest import sbn_train as cli

torch.set_num_threads(1)


# 1. non-finite batch-norm statistics: the step that made them so, and that step's rate

def test_batch_norm_divergence_names_its_step_and_rate(monkeypatch):
    calls, lrs = [0], []
    orig = T.build
    def build(cfg, data):
        model, est = orig(cfg, data)
        bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))
        def hook(m, i, o):
            if not m.training: return
            calls[0] += 1
            if calls[0] == 3: m.running_var.data = torch.full_like(m.running_var, math.inf)   # the 3rd step's statistics overflow
        bn.register_forward_hook(hook)
        return model, est
    monkeypatch.setattr(T, 'build', build)
    with pytest.raises(Diverged) as e:
        train(TrainConfig(model='duo_mlp', epochs=1), progress=False)
    msg = str(e.value)
    assert 'training diverged at epoch 1, step 3: the batch-norm statistics (buffers) are not finite (lr ' in msg, msg
    lr = float(re.search(r'\(lr ([^)]+)\)', msg).group(1))
    assert lr > 1e-3, msg   # the cosine schedule's 3rd rate, not its last (6e-05)


# 2. binaryduo_vgg7:units=zero_one and the estimators that sample

def test_zero_one_units_name_the_model_and_the_estimators_they_take(capsys):
    code, out, err = cli(capsys, '--model', 'binaryduo_vgg7:units=zero_one', '--estimator', 'zgr', '--data', 'cifar10', '--summary')
    assert code == 2 and err.count('sbn-train: error:') == 1 and err.strip().splitlines()[-1].startswith('sbn-train: error:'), err
    line = err.strip().splitlines()[-1]
    assert "model 'binaryduo_vgg7:units=zero_one': estimator 'zgr' samples (stochastic)" in line and 'give one of ' in line and 'st' in line, line
    code, out, err = cli(capsys, '--model', 'binaryduo_vgg7:units=zero_one', '--estimator', 'psa', '--data', 'cifar10', '--summary')
    line = err.strip().splitlines()[-1]
    assert code == 2 and "model 'binaryduo_vgg7:units=zero_one' is a layered model, trained by the local estimators that do not sample:" in line, err
    listed = line.split('that do not sample:')[1].replace(' ', '').split(',')
    assert 'st' in listed and not {'zgr', 'gumbel_softmax', 'concrete', 'reinmax'} & set(listed), listed


# 3. psa's compile check has torch < 2.3's fallback

def test_psa_uses_the_is_compiling_fallback():
    import inspect
    from sbn_estimators import core
    assert psa._compiling is straight_through._compiling is core._compiling   # one test, with the fallback
    assert 'torch.compiler.is_compiling()' not in inspect.getsource(psa)


# 4. --list takes --threads (and --debug)

def test_list_takes_threads(capsys):
    code, out, err = cli(capsys, '--list', '--threads', '1', '--debug')
    assert code == 0 and 'which estimator trains which kind of model' in out, (out, err)
