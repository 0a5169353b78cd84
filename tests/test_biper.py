"BiPer (nbs/19b_biper.ipynb) in the trainer: its two stages from the command line, and exact resumption inside the second."
import csv, json, math
from pathlib import Path
import pytest, torch
from sbn_estimators.train import TrainConfig, train, train_cli, load_checkpoint
from sbn_estimators.biper import BiPer

torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared CPU
FASHION = Path('/usr/share/datasets/fashion-mnist')
pytestmark = pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
STAGES = [{'name': 'sine', 'epochs': 2}, {'name': 'square', 'transform': 'biper_binarize', 'epochs': 2}]
SMALL = dict(data='fashion_mnist', model='fmnist_biper_conv:width=8,freq=20', estimator='approx_sign:deterministic=true',
             lr=1e-2, n_train=256, val=64, n_test=128, batch_size=64, eval_samples=1, seed=0, device='cpu', stages=STAGES)

def _interrupt_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

def _stage(model):
    "The set of `binarize` flags of the model's BiPer weights."
    return {m.binarize for m in model.modules() if isinstance(m, BiPer)}

def test_two_stages_and_exact_resume_in_the_second(tmp_path):
    "Stage 1 trains the sines, the transform binarizes them; a run interrupted in stage 2 re-binarizes on resume and ends identically."
    cfg = TrainConfig(**SMALL)
    full = train(cfg, tmp_path / 'a', progress=False)
    assert _stage(full['model']) == {True}
    assert set(full['stages']) >= {'sine', 'square_start', 'square'}
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(3)], progress=False)
    ck = load_checkpoint(tmp_path / 'b' / 'last.pt')
    assert (ck['stage'], ck['stage_epoch']) == (1, 1)
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)
    assert _stage(resumed['model']) == {True}
    for (k, p), q in zip(full['model'].state_dict().items(), resumed['model'].state_dict().values()): assert torch.equal(p, q), k
    assert resumed['stages'] == full['stages']
    strip = lambda d: [l.rsplit(',', 1)[0] for l in (tmp_path / d / 'metrics.csv').read_text().splitlines()]
    assert strip('a') == strip('b')
    with open(tmp_path / 'a' / 'metrics.csv') as f: flips = [(r['stage'], float(r['flip_ratio'])) for r in csv.DictReader(f)]
    assert [s for s, _ in flips] == ['sine'] * 2 + ['square'] * 2, flips
    assert all(math.isnan(v) for s, v in flips if s == 'sine') and all(0 < v < 0.5 for s, v in flips if s == 'square'), flips   # no ±1 weights yet in the sine stage; 0.041, 0.0065 measured

def test_cli_runs_both_stages(tmp_path, capsys):
    "`sbn-train` with the BiPer model and the transform in --stages: both stages run, the stage results are written."
    args = ['--data', 'fashion_mnist', '--model', 'fmnist_biper_conv:width=8', '--estimator', 'approx_sign:deterministic=true',
            '--n-train', '128', '--val', '64', '--n-test', '64', '--batch-size', '64', '--eval-samples', '1', '--quiet',
            '--stages', json.dumps([{'name': 'sine', 'epochs': 1}, {'name': 'square', 'transform': 'biper_binarize', 'epochs': 1}]),
            '--out', str(tmp_path / 'run'), '--threads', '1']
    try: train_cli(args); code = 0
    except SystemExit as e: code = e.code
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert {'sine', 'square_start', 'square'} <= set(result['stages'])

def test_transform_on_a_model_without_biper_is_refused(tmp_path, capsys):
    "biper_binarize on a model without BiPer weights: one line, exit status 2, before any training (nothing written)."
    args = ['--data', 'fashion_mnist', '--model', 'fmnist_bnn_conv:width=8', '--n-train', '128', '--val', '64', '--n-test', '64',
            '--batch-size', '64', '--eval-samples', '1', '--quiet', '--threads', '1', '--out', str(tmp_path / 'run'),
            '--stages', json.dumps([{'name': 'a', 'epochs': 1}, {'name': 'b', 'transform': 'biper_binarize', 'epochs': 1}])]
    with pytest.raises(SystemExit) as e: train_cli(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'biper_binarize: the model has no BiPer weights' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'run').exists()

def test_the_penalty_reaches_the_training_loss():
    "With tau > 0 the trainer adds BiPer's penalty: the latents are pulled towards sin = 0 and the quantization error rises; tau = 0 changes nothing."
    from sbn_estimators.binary_weights import binary_weight_layers
    from sbn_estimators.biper import quantization_error
    one = dict(SMALL, stages=[], epochs=1, n_test=64)
    qe = {}
    for tau in (0., 3.):
        model = train(TrainConfig(**{**one, 'model': f'fmnist_biper_conv:width=8,freq=20,tau={tau}'}), progress=False)['model']
        qe[tau] = [quantization_error(m.weight) for m in binary_weight_layers(model).values()]
    assert all(b > a for a, b in zip(qe[0.], qe[3.])), qe
    plain = train(TrainConfig(**{**one, 'model': 'fmnist_biper_conv:width=8,freq=20'}), progress=False)['model']
    assert [quantization_error(m.weight) for m in binary_weight_layers(plain).values()] == qe[0.]   # tau=0 is the default

def test_sign_optimizers_refuse_biper_weights(capsys):
    "Bop and BayesBiNN step each latent as its sign; with BiPer's square wave that would be meaningless: one line, exit status 2."
    for opt in ('bop', 'bayesbinn'):
        args = ['--data', 'fashion_mnist', '--model', 'fmnist_biper_conv:width=8,binarize=true', '--optimizer', opt, '--lr', '1e-3',
                '--n-train', '128', '--val', '64', '--n-test', '64', '--batch-size', '64', '--eval-samples', '1', '--quiet', '--threads', '1']
        with pytest.raises(SystemExit) as e: train_cli(args)
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"optimizer '{opt}' treats each latent binary weight as its sign" in err and 'BiPer' in err, err
        assert len(err.strip().splitlines()) == 1
