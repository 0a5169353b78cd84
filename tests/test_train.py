"CLI-level tests of `sbn-train` (nbs/14_train.ipynb): default run, exact resumption, checkpoint errors."
import json, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from sbn_estimators.train import TrainConfig, train, train_cli, load_checkpoint
from conftest import console_script

torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared CPU
FAST = ['--model', 'sbn_mlp:width=32', '--eval-samples', '2', '--quiet']

def run_cli(*args):
    "Run the installed `sbn-train` console script in a fresh process, as a user does."
    return subprocess.run([console_script('sbn-train'), *args, '--threads', '1'], capture_output=True, text=True, timeout=300)

def test_default_run_smoke(tmp_path):
    "The default configuration (embedded digits, SBN, st) with a tiny budget: files written, accuracy printed."
    p = run_cli('--epochs', '2', '--out', str(tmp_path / 'run'), '--quiet')
    assert p.returncode == 0, p.stderr
    assert 'test accuracy' in p.stdout
    files = {f.name for f in (tmp_path / 'run').iterdir()}
    assert {'config.json', 'metrics.csv', 'curves.png', 'last.pt', 'best.pt', 'result.json'} <= files
    cfg = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert (cfg['data'], cfg['model'], cfg['estimator']) == ('digits', 'sbn_mlp', 'st')
    ck = torch.load(tmp_path / 'run' / 'last.pt', weights_only=True)   # loads without unpickling code
    assert ck['epoch'] == 2 and len(ck['metrics']) == 2
    assert json.loads((tmp_path / 'run' / 'result.json').read_text())['test_acc'] > 0.3

def test_binaryduo_recipe_runs_three_stages(tmp_path):
    "One recipe: coupled (ternary) training, exact decoupling, fine-tuning of the binary network."
    p = run_cli('--recipe', 'binaryduo_digits', '--epochs', '2', '--out', str(tmp_path / 'run'), '--quiet')
    assert p.returncode == 0, p.stderr
    stages = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert list(stages) == ['coupled', 'decoupled', 'finetuned']
    assert stages['decoupled']['test_acc'] == stages['coupled']['test_acc']   # decoupling leaves the function unchanged

def _interrupt_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

@pytest.mark.parametrize('estimator', ['st', 'reinforce'])
def test_resume_gives_same_weights(tmp_path, estimator):
    "An interrupted and resumed run ends with the same weights as an uninterrupted one (same seed, CPU)."
    cfg = TrainConfig(model='sbn_mlp:width=32', estimator=estimator, epochs=4, warmup_epochs=1, eval_samples=2, seed=3)
    full = train(cfg, tmp_path / 'a', progress=False)['model']
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(2)], progress=False)
    assert load_checkpoint(tmp_path / 'b' / 'last.pt')['epoch'] == 2
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)['model']
    for (k, p), q in zip(full.state_dict().items(), resumed.state_dict().values()): assert torch.equal(p, q), k
    a, b = ((tmp_path / d / 'metrics.csv').read_text() for d in 'ab')
    strip = lambda s: [l.rsplit(',', 1)[0] for l in s.splitlines()]   # all columns but the timing
    assert strip(a) == strip(b)

def test_resume_via_cli(tmp_path):
    "`sbn-train --resume` continues a run to the configured number of epochs."
    out = str(tmp_path / 'r')
    train_cli(['--epochs', '3', '--out', out, *FAST])
    ck = load_checkpoint(tmp_path / 'r' / 'last.pt')
    train_cli(['--resume', '--out', out, '--quiet'])
    assert load_checkpoint(tmp_path / 'r' / 'last.pt')['epoch'] == ck['epoch'] == 3
    with pytest.raises(SystemExit, match='differs'): train_cli(['--resume', '--out', out, '--lr', '0.5'])

def test_corrupted_checkpoint_error(tmp_path):
    "A truncated last.pt gives a clear error, not a traceback."
    out = tmp_path / 'r'
    assert run_cli('--epochs', '1', '--out', str(out), *FAST).returncode == 0
    data = (out / 'last.pt').read_bytes()
    (out / 'last.pt').write_bytes(data[:len(data) // 2])
    p = run_cli('--resume', '--out', str(out))
    assert p.returncode != 0
    assert 'corrupted' in p.stderr and 'Traceback' not in p.stderr

def test_mismatched_checkpoint_error(tmp_path):
    "A checkpoint of another model gives a clear error naming the mismatch."
    train(TrainConfig(model='sbn_mlp:width=32', epochs=1, eval_samples=1), tmp_path / 'small', progress=False)
    train(TrainConfig(model='sbn_mlp:width=48', epochs=1, eval_samples=1), tmp_path / 'big', progress=False)
    shutil.copy(tmp_path / 'small' / 'last.pt', tmp_path / 'big' / 'last.pt')
    with pytest.raises(ValueError, match='different model'):
        train(TrainConfig(model='sbn_mlp:width=48', epochs=1, eval_samples=1), tmp_path / 'big', resume=True, progress=False)

def test_bad_options_are_clear(capsys, tmp_path):
    "Bad options exit with a message that lists what is valid, not a traceback, and leave no run folder."
    for args, msg in [(['--estimator', 'nope'], 'valid estimators'), (['--model', 'nope'], 'valid models'),
                      (['--optimizer', 'rmsprop'], 'valid: sgd, adam'), (['--recipe', 'nope'], 'valid recipes'),
                      (['--model', 'resnet20', '--data', 'cos'], 'logistic loss'),
                      (['--model', 'resnet20', '--estimator', 'reinforce'], 'network-level')]:
        with pytest.raises(SystemExit) as e: train_cli([*args, '--epochs', '1', '--quiet', '--out', str(tmp_path / 'run')])
        assert msg in str(e.value), (args, e.value)
        assert not (tmp_path / 'run').exists(), args
