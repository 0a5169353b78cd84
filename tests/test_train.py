"Tests of `sbn-train` (nbs/14_train.ipynb): default run, staged runs and their resumption, checkpoint errors, divergence."
import json, re, shutil
from pathlib import Path
import pytest, torch
from sbn_estimators.train import TrainConfig, RECIPES, train, load_checkpoint
from sbn_estimators.catalogue import CATALOGUE, run_references
from conftest import console_script
import subprocess
from types import SimpleNamespace
from conftest import sbn_train

torch.set_num_threads(1)  # tiny models: one thread is fastest on a shared CPU
FAST = ['--model', 'sbn_mlp:width=32', '--eval-samples', '2', '--quiet']

def run_cli(*args):
    "Run the installed `sbn-train` console script in a fresh process, as a user does."
    return subprocess.run([console_script('sbn-train'), *args, '--threads', '1'], capture_output=True, text=True, timeout=300)

cli = sbn_train

def test_default_run_smoke(tmp_path):
    "The default configuration (embedded digits, SBN, st) with a tiny budget: files written, accuracy printed."
    p = run_cli('--epochs', '2', '--out', str(tmp_path / 'run'), '--quiet')
    assert p.returncode == 0, p.stderr
    assert 'test accuracy' in p.stdout
    files = {f.name for f in (tmp_path / 'run').iterdir()}
    assert {'config.json', 'references.bib', 'metrics.csv', 'curves.png', 'last.pt', 'best.pt', 'result.json'} <= files
    bib = (tmp_path / 'run' / 'references.bib').read_text()   # st with Adam on the embedded digits: st's papers, Adam's, the data's
    assert re.findall(r'^@\w+\{(\w+),$', bib, re.M) == ['sbn_estimators', *CATALOGUE['st']['refs'], 'kingma2015adam', 'alpaydin1998optdigits'] and 'shekhovtsov2021st' in bib
    cfg = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert (cfg['data'], cfg['model'], cfg['estimator'], cfg['data_dir']) == ('digits', 'sbn_mlp', 'st', '')
    ck = torch.load(tmp_path / 'run' / 'last.pt', weights_only=True)   # loads without unpickling code
    assert ck['epoch'] == 2 and len(ck['metrics']) == 2
    res = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert res['test_acc'] > 0.3
    import sbn_estimators   # result.json records what the run ran on (config.json, compared on --resume, does not)
    env = res['environment']
    assert (env['torch'], env['sbn_estimators'], env['processes'], env['threads']) == (torch.__version__, sbn_estimators.__version__, 1, 1)
    assert env['device'].startswith('cuda' if torch.cuda.is_available() else 'cpu') and 'environment' not in cfg

DUO = ['--recipe', 'binaryduo_digits', '--epochs', '2', '--batch-size', '128', '--quiet',   # no --eval-samples: BinaryDuo's nets sample nothing
       '--stages', '[{"name": "coupled"}, {"name": "finetuned", "transform": "decouple", "epochs": 2, "lr": 0.001}]']

def test_binaryduo_recipe_runs_stages(tmp_path, capsys):
    "The staged recipe: coupled (ternary) training, exact decoupling, fine-tuning of the binary network; a checkpoint per stage."
    code, out, err = cli(capsys, *DUO, '--out', str(tmp_path / 'run'))
    assert code == 0, err
    res = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert list(res['stages']) == ['coupled', 'finetuned_start', 'finetuned']
    assert res['stages']['finetuned_start']['test_det_acc'] == res['stages']['coupled']['test_det_acc']   # decoupling is exact
    assert {'stage-coupled.pt', 'stage-finetuned.pt'} <= {p.name for p in (tmp_path / 'run').iterdir()}
    assert 'test accuracy by stage' in out

def _interrupt_after(k):
    def cb(epoch, row):
        if epoch == k: raise KeyboardInterrupt
    return cb

@pytest.mark.parametrize('estimator', ['st', 'reinforce', 'reinforce:baseline=ema', 'reinforce:baseline=nvil', 'rebar', 'relax'])
def test_resume_gives_same_weights(tmp_path, estimator):
    "An interrupted and resumed run ends with the same weights as an uninterrupted one (same seed, CPU), learned estimator state included."
    cfg = TrainConfig(model='sbn_mlp:width=32', estimator=estimator, epochs=4, warmup_epochs=1, eval_samples=2, seed=3)
    full = train(cfg, tmp_path / 'a', progress=False)['model']
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(2)], progress=False)
    assert load_checkpoint(tmp_path / 'b' / 'last.pt')['epoch'] == 2
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)['model']
    for (k, p), q in zip(full.state_dict().items(), resumed.state_dict().values()): assert torch.equal(p, q), k
    a, b = ((tmp_path / d / 'metrics.csv').read_text() for d in 'ab')
    strip = lambda s: [l.rsplit(',', 1)[0] for l in s.splitlines()]   # all columns but the timing
    assert strip(a) == strip(b)

@pytest.mark.parametrize('stop', [3, 4])   # 3: at the end of stage 1 (before the decoupling); 4: inside stage 2
def test_staged_resume_in_second_stage(tmp_path, stop):
    "A staged run interrupted in (or right before) its second stage resumes to exactly the uninterrupted result."
    cfg = TrainConfig(**{**RECIPES['binaryduo_digits'].config, 'epochs': 3, 'batch_size': 128, 'eval_samples': 1, 'seed': 2,
                         'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 3, 'lr': 0.001}]})
    full = train(cfg, tmp_path / 'a', progress=False)
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(stop)], progress=False)
    ck = load_checkpoint(tmp_path / 'b' / 'last.pt')
    assert (ck['stage'], ck['stage_epoch']) == ((0, 3) if stop == 3 else (1, 1))
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)
    for (k, p), q in zip(full['model'].state_dict().items(), resumed['model'].state_dict().values()): assert torch.equal(p, q), k
    assert resumed['stages'] == full['stages']
    strip = lambda d: [l.rsplit(',', 1)[0] for l in (tmp_path / d / 'metrics.csv').read_text().splitlines()]
    assert strip('a') == strip('b')

def test_staged_run_folder_resumes_and_configures(tmp_path, capsys):
    "A staged run folder resumes with `--resume` and its config.json reproduces the run with `--config`."
    code, _, err = cli(capsys, *DUO, '--out', str(tmp_path / 'a'))
    assert code == 0, err
    (tmp_path / 'a' / 'result.json').unlink()
    code, _, err = cli(capsys, '--resume', '--out', str(tmp_path / 'a'), '--quiet')
    assert code == 0, err
    code, _, err = cli(capsys, '--config', str(tmp_path / 'a' / 'config.json'), '--out', str(tmp_path / 'b'), '--quiet')
    assert code == 0, err
    ra, rb = (json.loads((tmp_path / d / 'result.json').read_text()) for d in 'ab')
    assert ra['stages'] == rb['stages']

def test_resume_via_cli(tmp_path, capsys):
    "`sbn-train --resume` continues a run to the configured number of epochs; a changed option is refused."
    out = str(tmp_path / 'r')
    assert cli(capsys, '--epochs', '3', '--out', out, *FAST)[0] == 0
    ck = load_checkpoint(tmp_path / 'r' / 'last.pt')
    assert cli(capsys, '--resume', '--out', out, '--quiet')[0] == 0
    assert load_checkpoint(tmp_path / 'r' / 'last.pt')['epoch'] == ck['epoch'] == 3
    code, _, err = cli(capsys, '--resume', '--out', out, '--lr', '0.5')
    assert code == 2 and 'differs' in err

def test_corrupted_checkpoint_error(tmp_path, capsys):
    "A truncated last.pt gives a clear error, not a traceback, with advice that works: resume from best.pt (a whole checkpoint of the run), else afresh."
    out = tmp_path / 'r'
    assert run_cli('--epochs', '3', '--out', str(out), *FAST).returncode == 0
    full = load_checkpoint(out / 'last.pt')['model']
    data = (out / 'last.pt').read_bytes()
    (out / 'last.pt').write_bytes(data[:len(data) // 2])
    p = run_cli('--resume', '--out', str(out))
    assert p.returncode == 2 and p.stderr.count('\n') == 1
    assert 'corrupted' in p.stderr and 'Traceback' not in p.stderr
    assert f'{out}/best.pt holds all that resuming needs: copy it over {out}/last.pt and resume' in p.stderr, p.stderr
    shutil.copy(out / 'best.pt', out / 'last.pt')   # as the message says: the run goes on from best.pt's epoch to the same end
    p = run_cli('--resume', '--out', str(out), '--quiet')
    assert p.returncode == 0, p.stderr
    for k, v in full.items(): assert torch.equal(v, load_checkpoint(out / 'last.pt')['model'][k]), k
    (out / 'best.pt').write_bytes(b'junk'); (out / 'last.pt').write_bytes(b'junk')   # no whole checkpoint left: afresh, elsewhere
    code, _, err = cli(capsys, '--resume', '--out', str(out))
    assert code == 2 and err.endswith(f'; start the run afresh with another --out (or after deleting {out})\n') and 'best.pt' not in err, err
    assert cli(capsys, '--epochs', '1', '--out', str(tmp_path / 'r2'), *FAST)[0] == 0

def test_resume_refuses_a_last_pt_of_another_run(tmp_path):
    "A last.pt copied from a run of another configuration (here another seed, the same model) is refused, not resumed."
    for seed in (0, 1): train(TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1, seed=seed), tmp_path / str(seed), progress=False)
    shutil.copy(tmp_path / '1' / 'last.pt', tmp_path / '0' / 'last.pt')
    with pytest.raises(ValueError, match=r'0/last.pt belongs to another run: its configuration differs from .*0/config.json '
                                         r'\(seed: last.pt 1, config.json 0\); .*0/best.pt holds all that resuming needs'):
        train(TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1, seed=0), tmp_path / '0', resume=True, progress=False)

def test_mismatched_checkpoint_error(tmp_path):
    "A checkpoint of another model gives a clear error naming the mismatch."
    train(TrainConfig(model='sbn_mlp:width=32', epochs=1, eval_samples=1), tmp_path / 'small', progress=False)
    train(TrainConfig(model='sbn_mlp:width=48', epochs=1, eval_samples=1), tmp_path / 'big', progress=False)
    shutil.copy(tmp_path / 'small' / 'last.pt', tmp_path / 'big' / 'last.pt')
    with pytest.raises(ValueError, match="belongs to another run: .*model: last.pt 'sbn_mlp:width=32', config.json 'sbn_mlp:width=48'"):
        train(TrainConfig(model='sbn_mlp:width=48', epochs=1, eval_samples=1), tmp_path / 'big', resume=True, progress=False)

def test_divergence_stops_the_run(tmp_path, capsys):
    "A non-finite loss ends the run with one line naming epoch and step, exit status 1, and no best.pt of a non-finite model."
    code, _, err = cli(capsys, '--lr', '1e38', '--optimizer', 'sgd', '--epochs', '2', '--out', str(tmp_path / 'd'), *FAST)
    assert code == 1 and err.count('\n') == 1, err
    assert err.startswith('sbn-train: error: training diverged at epoch 1, step ') and '--lr' in err
    assert f"no checkpoint was written, so nothing is kept in {tmp_path / 'd'}" in err and 'are kept' not in err, err   # says what is on disk
    assert not (tmp_path / 'd').exists()          # nothing to resume: the folder of a run that never checkpointed is removed

def test_best_checkpoint_never_non_finite(tmp_path, monkeypatch):
    "Divergence after a checkpoint: best.pt and last.pt keep the last finite model."
    import sbn_estimators.train as T
    built = []
    def build(cfg, data):
        built.append(T.build.__wrapped__(cfg, data)); return built[-1]
    build.__wrapped__ = T.build
    monkeypatch.setattr(T, 'build', build)
    def poison(epoch, row):   # after epoch 1's checkpoints: the model's weights become NaN
        if epoch == 1:
            with torch.no_grad(): next(built[0][0].parameters()).fill_(float('nan'))
    with pytest.raises(T.Diverged, match=r'epoch 2, step 1: .*; .*r keeps its checkpoints up to epoch 1 \(last.pt\)$'):
        train(TrainConfig(model='sbn_mlp:width=16', epochs=3, eval_samples=1), tmp_path / 'r', callbacks=[poison], progress=False)
    for f in ('best.pt', 'last.pt'):
        ck = load_checkpoint(tmp_path / 'r' / f)
        assert ck['epoch'] == 1 and all(torch.isfinite(v).all() for v in ck['model'].values() if v.is_floating_point())

def test_resume_after_the_last_checkpoint_restores_metrics(tmp_path, monkeypatch):
    "A run stopped between its final last.pt and metrics.csv: the resume (no epoch left) rewrites metrics.csv from the checkpoint."
    import csv
    import sbn_estimators.train as T
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=2, eval_samples=1)
    write = T._write_metrics
    def stop_before_the_last_row(path, rows):
        if len(rows) == 2: raise KeyboardInterrupt
        write(path, rows)
    monkeypatch.setattr(T, '_write_metrics', stop_before_the_last_row)
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'r', progress=False)
    monkeypatch.setattr(T, '_write_metrics', write)
    train(cfg, tmp_path / 'r', resume=True, progress=False)
    saved = load_checkpoint(tmp_path / 'r' / 'last.pt')['metrics']
    rows = list(csv.DictReader(open(tmp_path / 'r' / 'metrics.csv')))
    assert [int(r['epoch']) for r in rows] == [r['epoch'] for r in saved] == [1, 2]
    assert [float(r['train_loss']) for r in rows] == [r['train_loss'] for r in saved]

def test_best_checkpoint_is_of_the_final_architecture(tmp_path, monkeypatch):
    "Validation accuracy that only falls: best.pt restarts with the decoupled model (it loads into the final model); a stage without a transform continues the comparison."
    import sbn_estimators.train as T
    real, seen = T.evaluate, []
    def falling(model, data, split='test', *a, **kw):
        r = real(model, data, split, *a, **kw)
        if split == 'val': seen.append(split); r['acc'] = r['det_acc'] = 1 / len(seen)   # epoch e validates at 1/e (BinaryDuo's nets sample nothing: chosen on det_acc)
        return r
    monkeypatch.setattr(T, 'evaluate', falling)
    cfg = TrainConfig(**{**RECIPES['binaryduo_digits'].config, 'epochs': 2, 'batch_size': 128, 'eval_samples': 1,
                         'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple'}, {'name': 'more', 'epochs': 1}]})
    res = train(cfg, tmp_path / 'r', progress=False)
    best = load_checkpoint(tmp_path / 'r' / 'best.pt', res['model'])
    assert (best['stage'], best['epoch'], best['best']) == (1, 3, 1 / 3)

def _script_val_acc(monkeypatch, accs):
    "Make the trainer's validation report the accuracies `accs`, one per epoch (the rest of each evaluation is real)."
    import sbn_estimators.train as T
    real, accs = T.evaluate, iter(accs)
    def scripted(model, data, split='test', *a, **kw):
        r = real(model, data, split, *a, **kw)
        if split == 'val': r['acc'] = next(accs)
        return r
    monkeypatch.setattr(T, 'evaluate', scripted)

def test_best_checkpoint_is_the_best_epoch_not_the_last(tmp_path, monkeypatch):
    "Validation accuracy 0.5, 0.2, 0.3: best.pt is epoch 1 (the best so far), not epoch 3 (better than epoch 2 only)."
    _script_val_acc(monkeypatch, [0.5, 0.2, 0.3])
    train(TrainConfig(model='sbn_mlp:width=16', epochs=3, eval_samples=1), tmp_path / 'r', progress=False)
    best = load_checkpoint(tmp_path / 'r' / 'best.pt')
    assert (best['epoch'], best['best']) == (1, 0.5)
    assert load_checkpoint(tmp_path / 'r' / 'last.pt')['epoch'] == 3
    res = json.loads((tmp_path / 'r' / 'result.json').read_text())
    assert (res['epoch'], res['best_epoch']) == (3, 1)   # result.json tests the last epoch's model and says which one best.pt is

def test_accuracies_are_exact_fractions():
    "Expected accuracy is a count over samples x examples, the others counts over examples: exact to double precision, not float32 means."
    from sbn_estimators.train import build, evaluate, load_data
    cfg = TrainConfig(model='sbn_mlp:width=16', n_train=100, n_test=201)
    data = load_data(cfg); model, est = build(cfg, data)
    torch.manual_seed(0)
    r = evaluate(model, data, 'test', samples=3, batch_size=64)
    for k, count in (('acc', 201 * 3), ('ens_acc', 201), ('det_acc', 201)):
        assert abs(r[k] * count - round(r[k] * count)) < 1e-9, (k, r[k] * count)

def test_data_order_is_the_generator_of_seed_and_epoch(monkeypatch):
    "Epoch e (from 0) trains on randperm(n) of its own generator, seeded by seed * 100003 + e: another order every epoch."
    import sbn_estimators.train as T
    real, seen = T._step, []
    def spy(model, est, xb, yb, loss, sbn): seen.append(yb.clone()); return real(model, est, xb, yb, loss, sbn)
    monkeypatch.setattr(T, '_step', spy)
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=2, eval_samples=1, seed=1)   # seed 1: the order depends on the seed too
    train(cfg, progress=False)
    ytr = T.load_data(cfg).splits['train'][1]
    n, B = len(ytr), cfg.batch_size
    steps = n // B
    assert len(seen) == 2 * steps
    orders = [torch.cat(seen[e * steps:(e + 1) * steps]) for e in range(2)]
    for e, order in enumerate(orders):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100003 + e))
        assert torch.equal(order, ytr[perm[:steps * B]]), e
    assert not torch.equal(orders[0], orders[1])

@pytest.mark.parametrize('stages', [None, [{'name': 'first', 'epochs': 2}, {'name': 'second', 'epochs': 1}]])
def test_estimator_schedule_gets_the_runs_epochs(monkeypatch, stages):
    "The trainer calls `est.on_epoch(model, epoch, epochs)` at the start of every epoch: epoch from 0 over the whole run, epochs the run's total (a staged run's too)."
    from sbn_estimators.estimators import estimator
    cls = type(estimator('ede'))
    real, calls = cls.on_epoch, []
    def spy(self, model, epoch, epochs): calls.append((epoch, epochs)); return real(self, model, epoch, epochs)
    monkeypatch.setattr(cls, 'on_epoch', spy)
    cfg = TrainConfig(model='sbn_mlp:width=16', estimator='ede', epochs=3, eval_samples=1, **({'stages': stages} if stages else {}))
    train(cfg, progress=False)
    assert calls == [(0, 3), (1, 3), (2, 3)]

def test_evaluation_settings_leave_training_unchanged(tmp_path, capsys):
    "--eval-samples (and n_test, in the tests between stages) change the evaluation only: the same training losses and weights."
    import csv
    for name, extra in (('a', []), ('b', ['--eval-samples', '2'])):
        assert cli(capsys, '--epochs', '3', '--out', str(tmp_path / name), '--quiet', *extra)[0] == 0
    loss = lambda d: [r['train_loss'] for r in csv.DictReader(open(tmp_path / d / 'metrics.csv'))]
    assert loss('a') == loss('b')
    def staged(**kw):
        rows = []
        cfg = TrainConfig(**{**RECIPES['binaryduo_digits'].config, 'epochs': 2, 'batch_size': 128, **kw,
                             'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple', 'epochs': 1, 'lr': 1e-3}]})
        return train(cfg, progress=False, callbacks=[lambda e, r: rows.append(r['train_loss'])])['model'], rows
    (ma, la), (mb, lb) = staged(eval_samples=1), staged(eval_samples=3, n_test=100)
    assert la == lb
    for k, v in ma.state_dict().items(): assert torch.equal(v, mb.state_dict()[k]), k

def test_resume_from_another_working_directory_reads_the_same_data(tmp_path, monkeypatch, capsys):
    "config.json keeps the data folder absolute (the default root resolved): resumed from elsewhere, the run reads the same files and ends as the uninterrupted one."
    from sbn_estimators.data import write_fake_cifar10
    here, there = tmp_path / 'here', tmp_path / 'there'
    write_fake_cifar10(here / 'data', n_per_batch=40, seed=0)
    write_fake_cifar10(there / 'data', n_per_batch=40, seed=1)   # other files under the same relative name
    monkeypatch.chdir(here)
    cfg = TrainConfig(data='cifar10', model='sbn_mlp:width=16', val=40, epochs=2, batch_size=32, eval_samples=1)
    assert cfg.data_dir == str((here / 'data').resolve())
    full = train(cfg, tmp_path / 'a', progress=False)['model']
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(1)], progress=False)
    monkeypatch.chdir(there)
    code, _, err = cli(capsys, '--resume', '--out', str(tmp_path / 'b'), '--quiet')
    assert code == 0, err
    for k, v in full.state_dict().items(): assert torch.equal(v, load_checkpoint(tmp_path / 'b' / 'last.pt')['model'][k]), k
    code, _, err = cli(capsys, '--resume', '--out', str(tmp_path / 'b'), '--data-dir', 'data')   # this folder's data/: other data
    assert code == 2 and f"data_dir: saved '{(here / 'data').resolve()}', given '{(there / 'data').resolve()}'" in err, err


def test_resume_compares_with_the_saved_best(tmp_path, monkeypatch):
    "Validation accuracy 0.5, 0.2, interrupted, then 0.3: the resumed epoch is compared with the saved best 0.5, so best.pt stays epoch 1."
    _script_val_acc(monkeypatch, [0.5, 0.2, 0.3])
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=3, eval_samples=1)
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'r', callbacks=[_interrupt_after(2)], progress=False)
    train(cfg, tmp_path / 'r', resume=True, progress=False)
    best, last = (load_checkpoint(tmp_path / 'r' / f) for f in ('best.pt', 'last.pt'))
    assert (best['epoch'], best['best'], last['epoch'], last['best']) == (1, 0.5, 3, 0.5)

def test_data_order_counts_epochs_over_the_stages(monkeypatch):
    "A staged run's data order follows the epoch of the whole run: two 1-epoch stages see the batches of one 2-epoch stage."
    import sbn_estimators.train as T
    real, seen = T._step, []
    def spy(model, est, xb, yb, loss, sbn): seen[-1].append(yb.clone()); return real(model, est, xb, yb, loss, sbn)
    monkeypatch.setattr(T, '_step', spy)
    orders = []
    for stages in ([{'name': 'a', 'epochs': 1}, {'name': 'b', 'epochs': 1}], [{'name': 'a', 'epochs': 2}]):
        seen.append([])
        train(TrainConfig(model='sbn_mlp:width=16', eval_samples=1, seed=1, stages=stages), progress=False)
        orders.append(torch.cat(seen[-1]))
    half = len(orders[0]) // 2
    assert torch.equal(orders[0], orders[1])
    assert not torch.equal(orders[0][:half], orders[0][half:])   # and the second epoch is not the first one again

def test_normalize_init_of_an_sbn_mlp_uses_the_runs_seed(monkeypatch):
    "init='normalize' on an SBN MLP: training starts from init_sbn_ with the run's seed, on the first batch of training inputs."
    import sbn_estimators.train as T
    from sbn_estimators.sbn import init_sbn_
    real, first = T._step, []
    def spy(model, *a):
        if not first: first.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real(model, *a)
    monkeypatch.setattr(T, '_step', spy)
    cfg = TrainConfig(model='sbn_mlp:width=16', init='normalize', epochs=1, eval_samples=1, seed=5)
    train(cfg, progress=False)
    data = T.load_data(cfg)
    model, _ = T.build(cfg, data)
    init_sbn_(model, data.input(data.splits['train'][0][:cfg.batch_size], torch.float32), seed=5)
    for k, v in model.state_dict().items(): assert torch.equal(first[0][k], v), k

def test_warmup_ramps_the_first_stage_only():
    "warmup_epochs warms up the first stage; a later stage starts at its own full rate, not at lr/steps again."
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=2, warmup_epochs=1, lr=0.01, eval_samples=1, schedule='constant',
                      stages=[{'name': 'a'}, {'name': 'b', 'epochs': 1, 'lr': 0.003}])
    rows = []
    train(cfg, progress=False, callbacks=[lambda e, r: rows.append((r['stage'], r['lr']))])
    steps = 1294 // 64
    assert [s for s, _ in rows] == ['a', 'a', 'b']
    assert [lr for _, lr in rows] == pytest.approx([0.01 / steps, 0.01, 0.003], rel=1e-12)

def test_last_stage_result_is_the_final_test():
    "A stage's test draws from the evaluation stream of the epochs trained at its end: the last stage's result is the final test, number for number."
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=2, stages=[{'name': 'a'}, {'name': 'b'}])
    res = train(cfg, progress=False)
    last = res['stages']['b']
    assert set(last) <= set(res) and all(res[k] == v for k, v in last.items())


FASHION = Path('/usr/share/datasets/fashion-mnist')

def test_idx_default_places_are_resolved_where_relative(tmp_path, monkeypatch):
    "An IDX dataset read from its default places: the data/ of the working directory is kept absolute; its absolute system place, or none found: '' (the loader's search, the same from anywhere)."
    from sbn_estimators.data import IDX_STEMS
    monkeypatch.chdir(tmp_path)
    assert TrainConfig(data='mnist').data_dir == ''   # not found: the loader's message names the places
    raw = tmp_path / 'data' / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    for stem in IDX_STEMS: (raw / stem).touch()
    assert TrainConfig(data='mnist').data_dir == str(raw.resolve())
    if FASHION.is_dir(): assert TrainConfig(data='fashion_mnist').data_dir == ''

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_bayesbinn_evaluates_the_posterior_mode_and_resumes(tmp_path):
    "BayesBiNN: the tests, the saved and the returned model use the posterior mode sign(lambda); an interrupted run resumes exactly."
    # a mild relaxation, so that the training samples differ from the mode (at the defaults both are ±1 and mostly agree)
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true',
                      optimizer='bayesbinn:temperature=1,init_lambda=0.5',
                      lr=1e-2, epochs=3, n_train=256, val=64, n_test=128, batch_size=64, eval_samples=1, seed=0, device='cpu')
    full = train(cfg, tmp_path / 'a', progress=False)
    ck = load_checkpoint(tmp_path / 'a' / 'last.pt')
    binary = {f'{n}.weight': m.weight for n, m in full['model'].named_modules() if type(m).__name__ == 'BinaryWeightConv2d'}
    lams = [s['lambda'] for s in ck['optimizer']['state'].values() if 'lambda' in s]
    assert len(binary) == len(lams) == 3
    for (name, w), lam in zip(binary.items(), lams):
        assert torch.equal(w.detach(), torch.where(lam >= 0, 1., -1.))            # the returned model holds the mode
        assert torch.equal(ck['model'][name], w.detach())                         # so does the checkpoint
    with pytest.raises(KeyboardInterrupt): train(cfg, tmp_path / 'b', callbacks=[_interrupt_after(1)], progress=False)
    resumed = train(cfg, tmp_path / 'b', resume=True, progress=False)
    for (k, p), q in zip(full['model'].state_dict().items(), resumed['model'].state_dict().values()): assert torch.equal(p, q), k
    assert resumed['test_det_acc'] == full['test_det_acc']

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_bayesbinn_hands_the_posterior_mode_to_the_next_stage(tmp_path, monkeypatch):
    "A staged BayesBiNN run starts each later stage from the mode it tested and saved, not from its last training sample."
    import sbn_estimators.train as T
    from sbn_estimators.binary_weights import binary_weight_layers
    make, seen = T.make_optimizer, []
    def recording(model, cfg, train_size):   # the binary weights each stage's optimizer starts from
        seen.append({f'{n}.weight': m.weight.detach().clone() for n, m in binary_weight_layers(model).items()})
        return make(model, cfg, train_size)
    monkeypatch.setattr(T, 'make_optimizer', recording)
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true',
                      optimizer='bayesbinn:temperature=1,init_lambda=0.5',   # mild: the samples differ from the mode
                      lr=1e-2, n_train=256, val=64, n_test=128, batch_size=64, eval_samples=1, seed=0, device='cpu',
                      stages=[{'name': 'a', 'epochs': 2}, {'name': 'b', 'epochs': 1}])
    train(cfg, tmp_path / 'run', progress=False)
    mode = load_checkpoint(tmp_path / 'run' / 'stage-a.pt')['model']
    assert len(seen) == 2 and len(seen[1]) == 3
    for k, w in seen[1].items(): assert torch.equal(w, mode[k]), k

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_bayesbinn_posterior_predictive_leaves_the_run_unchanged(tmp_path, capsys):
    "posterior_samples adds the posterior predictive to the test metrics and changes nothing else (its draws have their own generator)."
    args = ['--data', 'fashion_mnist', '--model', 'fmnist_bnn_conv:width=8', '--estimator', 'st:deterministic=true',
            '--optimizer', 'bayesbinn:temperature=1,init_lambda=0.5', '--lr', '1e-2', '--epochs', '2', '--n-train', '256',
            '--val', '64', '--n-test', '128', '--batch-size', '64', '--eval-samples', '1', '--device', 'cpu', '--quiet']
    assert cli(capsys, *args, '--out', str(tmp_path / 'a'))[0] == 0
    code, out, _ = cli(capsys, *args, '--posterior-samples', '4', '--out', str(tmp_path / 'b'))
    assert code == 0 and 'posterior predictive (4 weight samples, deterministic units): single sample 0.' in out
    a, b = (json.loads((tmp_path / r / 'result.json').read_text()) for r in 'ab')
    assert set(b) - set(a) == {'test_post_acc', 'test_post_ens_acc', 'test_post_loss'}
    for k in a:
        if k != 'seconds_per_epoch': assert a[k] == b[k], k
    assert all(0 <= b[k] <= 1 for k in ('test_post_acc', 'test_post_ens_acc')) and b['test_post_loss'] > 0
    for f in ('last.pt', 'best.pt'):
        for (k, p), q in zip(load_checkpoint(tmp_path / 'a' / f)['model'].items(), load_checkpoint(tmp_path / 'b' / f)['model'].values()):
            assert torch.equal(p, q), (f, k)

def test_posterior_samples_needs_bayesbinn(capsys):
    code, out, err = cli(capsys, '--posterior-samples', '3', '--smoke')
    assert code == 2 and err.strip().count('\n') == 0 and "posterior_samples needs --optimizer bayesbinn" in err

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_flip_ratio_is_recorded(tmp_path):
    "A model with binary weights records each epoch's flip ratio: 0 when no step can flip a sign, > 0 when they move; SBN models record nan."
    import csv, math
    base = dict(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true', epochs=2, n_train=256,
                val=64, n_test=128, batch_size=64, eval_samples=1, seed=0, device='cpu')
    rows = {}
    for name, lr in (('still', 1e-9), ('moving', 1e-2)):
        train(TrainConfig(**base, lr=lr), tmp_path / name, progress=False)
        with open(tmp_path / name / 'metrics.csv') as f: rows[name] = [float(r['flip_ratio']) for r in csv.DictReader(f)]
    assert rows['still'] == [0., 0.]
    assert all(0 < r < 0.5 for r in rows['moving']), rows['moving']
    train(TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1), tmp_path / 'sbn', progress=False)
    with open(tmp_path / 'sbn' / 'metrics.csv') as f: assert all(math.isnan(float(r['flip_ratio'])) for r in csv.DictReader(f))


def test_flip_ratio_is_the_mean_per_step(tmp_path, monkeypatch):
    "flip_ratio is the MEAN over the epoch's steps of each step's fraction of flipped signs, not their sum (generated 1x28x28 data: runs anywhere)."
    import csv
    import sbn_estimators.train as T
    from sbn_estimators.binary_weights import flip_ratio
    from sbn_estimators.data import Data
    g = torch.Generator().manual_seed(0)
    split = lambda k: (torch.randint(0, 256, (k, 1, 28, 28), generator=g, dtype=torch.uint8), torch.randint(0, 10, (k,), generator=g))
    data = Data('fashion_mnist', {'train': split(256), 'val': split(32), 'test': split(32)}, n_out=10, transform=lambda X: X.float() / 127.5 - 1)
    monkeypatch.setattr(T, 'load_data', lambda cfg, download=False: data)
    steps = []   # each step's ratio, as train computes it
    monkeypatch.setattr(T, '_flip_fraction', lambda before, after: steps.append(flip_ratio(before, after)) or steps[-1])   # each step's fraction (a float: the on-device sum takes it)
    train(TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true', epochs=1, n_train=256,
                      val=32, n_test=32, batch_size=32, eval_samples=1, seed=0, device='cpu', lr=1e-2), tmp_path / 'r', progress=False)
    with open(tmp_path / 'r' / 'metrics.csv') as f: rows = [float(r['flip_ratio']) for r in csv.DictReader(f)]
    assert len(steps) == 8 and sum(steps) > 0, steps   # 256 / 32 steps, some of which flip signs
    assert rows == [pytest.approx(sum(steps) / 8)] and rows[0] <= max(steps)   # the sum of 8 would exceed every step's ratio

def test_references_name_every_paper_the_run_depends_on():
    "A BiPer run with Bop on Fashion-MNIST cites the estimator's paper, BiPer, Bop and the dataset."
    keys = run_references('approx_sign:deterministic=true', 'fmnist_biper_conv:freq=20', 'bop:threshold=1e-6', 'fashion_mnist')
    assert keys == ['liu2018bireal', 'vargas2024biper', 'helwegen2019bop', 'xiao2017fashion']

def test_metrics_lr_is_the_rate_the_epoch_trained_with(tmp_path):
    "The `lr` of a metrics row is the rate of its epoch's first step, not the next epoch's (a 1-epoch cosine run logs lr, not 0)."
    import csv
    from sbn_estimators.train import lr_factor
    train(TrainConfig(model='sbn_mlp:width=16', epochs=2, eval_samples=1, lr=0.02, schedule='cosine'), tmp_path / 'r', progress=False)
    rows = list(csv.DictReader(open(tmp_path / 'r' / 'metrics.csv')))
    steps = 1294 // 64
    assert [float(r['lr']) for r in rows] == pytest.approx([0.02, 0.02 * lr_factor(steps, 2 * steps, 0, 'cosine')])
    train(TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1, lr=0.02), tmp_path / 'one', progress=False)
    assert float(next(csv.DictReader(open(tmp_path / 'one' / 'metrics.csv')))['lr']) == 0.02

def test_val_zero_means_no_validation(tmp_path, capsys):
    "val 0: no validation (nan columns, no val_acc in the epoch lines) and best.pt is the last epoch's model."
    import csv
    code, _, err = cli(capsys, '--val', '0', '--epochs', '2', '--out', str(tmp_path / 'r'), '--model', 'sbn_mlp:width=16', '--eval-samples', '1')
    assert code == 0, err
    assert 'epoch 2/2: loss ' in err and 'val_acc' not in err, err
    rows = list(csv.DictReader(open(tmp_path / 'r' / 'metrics.csv')))
    assert len(rows) == 2 and all(r['val_acc'] == 'nan' for r in rows)
    best, last = load_checkpoint(tmp_path / 'r' / 'best.pt'), load_checkpoint(tmp_path / 'r' / 'last.pt')
    assert best['epoch'] == last['epoch'] == 2
    assert all(torch.equal(best['model'][k], v) for k, v in last['model'].items())

def test_val_count_and_smoke_read_the_same_split(tmp_path):
    "A whole count is a count (64 examples); smoke mode reads the data as the run does."
    from sbn_estimators.train import load_data, smoke_data
    cfg = TrainConfig(val=64, n_train=1000)
    d = load_data(cfg)
    assert (len(d.splits['val'][1]), len(d.splits['train'][1])) == (64, 1000)
    assert torch.equal(smoke_data(cfg).splits['train'][0], d.splits['train'][0][:2 * cfg.batch_size])


def test_cuda_device_names_are_checked_and_made_explicit(monkeypatch):
    # no GPU here: pretend there are two, to check the names the trainer accepts and records
    from sbn_estimators import train as T
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    current = []   # the devices made current, in order
    monkeypatch.setattr(torch.cuda, 'set_device', current.append)
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    assert T._dist_setup('cuda') == (0, 1, torch.device('cuda', 0))    # 'cuda' and 'cuda:0' are one device, one name
    assert T._dist_setup('cuda:1') == (0, 1, torch.device('cuda', 1))
    assert current == [torch.device('cuda', 0), torch.device('cuda', 1)]
    assert T._dist_setup('auto') == (0, 1, torch.device('cuda', 0))    # 'auto' takes the GPU there is
    with pytest.raises(ValueError, match=r"device cuda:2 requested but this machine has 2 CUDA device\(s\): cuda:0..cuda:1"):
        T._dist_setup('cuda:2')
    monkeypatch.setenv('WORLD_SIZE', '2')
    with pytest.raises(ValueError, match="LOCAL_RANK; use --device cuda"): T._dist_setup('cuda:1')
    # under torchrun each process makes its LOCAL_RANK's GPU current: all_gather_object and NCCL put its tensors there
    monkeypatch.setattr(T, 'dist', SimpleNamespace(is_initialized=lambda: True, get_rank=lambda: 1))
    monkeypatch.setenv('LOCAL_RANK', '1')
    assert T._dist_setup('cuda') == (1, 2, torch.device('cuda', 1)) and current[-1] == torch.device('cuda', 1)
    monkeypatch.setenv('LOCAL_RANK', '2')
    with pytest.raises(ValueError, match=r"LOCAL_RANK 2 but this machine has 2 CUDA device\(s\); start at most 2 processes"):
        T._dist_setup('cuda')

@pytest.mark.parametrize('rank', [0, 1])
def test_distributed_download_waits_for_rank_0(monkeypatch, rank):
    "Under torchrun with --download, rank 0 downloads and the other ranks read the files after it (a barrier)."
    from sbn_estimators import train as T
    seen = []
    monkeypatch.setattr(T, 'dist', SimpleNamespace(barrier=lambda: seen.append('barrier')))
    monkeypatch.setattr(T, '_dist_setup', lambda device: (rank, 2, torch.device('cpu')))
    monkeypatch.setattr(T, 'load_data', lambda cfg, download=False: seen.append(f'load download={download}'))
    class Built(Exception): pass
    def build(cfg, data): raise Built   # stop once the data is read
    monkeypatch.setattr(T, 'build', build)
    with pytest.raises(Built): train(TrainConfig(data='cifar10', download=True))
    assert seen == (['load download=True', 'barrier'] if rank == 0 else ['barrier', 'load download=False'])

def test_resume_restores_the_random_states_of_the_gpus_there_are(monkeypatch):
    "A checkpoint from a machine with two GPUs resumes on one with one GPU; one without GPU states (a CPU run) resumes on a GPU."
    from sbn_estimators import train as T
    restored = []
    def set_rng_state(state, device):   # as on a machine with one GPU
        if device != 0: raise IndexError(f"no CUDA device {device}")
        restored.append(state)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', set_rng_state)
    monkeypatch.setattr(torch.cuda.random, 'set_rng_state', set_rng_state)   # what torch.cuda.set_rng_state_all calls
    cpu, gpu = torch.get_rng_state(), [torch.full((16,), i, dtype=torch.uint8) for i in range(2)]
    T._set_rng_state([{'cpu': cpu, 'cuda': gpu}], 0, 1)
    assert restored == [gpu[0]]
    T._set_rng_state([{'cpu': cpu, 'cuda': []}], 0, 1)
    assert restored == [gpu[0]] and torch.equal(torch.get_rng_state(), cpu)

def test_warmup_lasts_whole_epochs(tmp_path):
    "Warm-up raises the rate step by step over `warmup_epochs` whole epochs: lr/steps in the first step, the full rate after one epoch."
    import csv
    from sbn_estimators.train import load_data
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=3, warmup_epochs=1, eval_samples=1, lr=0.02, schedule='cosine')
    steps = len(load_data(cfg).splits['train'][1]) // cfg.batch_size
    train(cfg, tmp_path / 'r', progress=False)
    lrs = [float(r['lr']) for r in csv.DictReader(open(tmp_path / 'r' / 'metrics.csv'))]
    assert steps > 1 and lrs[:2] == pytest.approx([0.02 / steps, 0.02], rel=1e-12)

def test_logged_metrics_are_the_evaluations(tmp_path):
    "metrics.csv's val_* columns and the returned test_* numbers are the evaluations with --eval-samples draws, each under its own name."
    import csv
    from sbn_estimators.train import load_data, evaluate, _eval_rng
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=3)
    res = train(cfg, tmp_path / 'r', progress=False)
    row = next(csv.DictReader(open(tmp_path / 'r' / 'metrics.csv')))
    data, cpu = load_data(cfg), torch.device('cpu')
    with _eval_rng(cfg.seed, 1, cpu): v = evaluate(res['model'], data, 'val', 3)    # the epoch's validation, redrawn
    with _eval_rng(cfg.seed, 1, cpu): t = evaluate(res['model'], data, 'test', 3)   # the final test, redrawn
    assert v['acc'] != v['ens_acc']   # so a swapped column would show
    assert all(float(row['val_' + k]) == v[k] for k in ('loss', 'acc', 'ens_acc', 'det_acc'))
    assert all(res['test_' + k] == t[k] for k in t)

def _on_each_step(monkeypatch, hook):
    """Run `hook(opt, args, kwargs)` before each step of every optimizer `train` makes, by a wrapper of that optimizer's own
    `step`: torch 2.1 drops the step hooks of every optimizer class, global and per-optimizer, once torch.compile ran in the process."""
    import types
    import sbn_estimators.train as tr
    make = tr.make_optimizer
    def make_hooked(*a, **kw):
        opt = make(*a, **kw); step = opt.step
        def hooked(self, *args, **kwargs): hook(self, args, kwargs); return step(*args, **kwargs)
        opt.step = types.MethodType(hooked, opt)   # a bound method, as the lr schedulers wrap it
        return opt
    monkeypatch.setattr(tr, 'make_optimizer', make_hooked)

def test_grad_clamp_bounds_both_sides(monkeypatch):
    "--grad-clamp c clamps every gradient entry into [-c, c] before each step, negative entries too."
    seen = []
    _on_each_step(monkeypatch, lambda opt, args, kw: seen.append(
        torch.cat([p.grad.flatten() for g in opt.param_groups for p in g['params'] if p.grad is not None])))
    train(TrainConfig(model='sbn_mlp:width=16', epochs=1, grad_clamp=1e-4, eval_samples=1), progress=False)
    g = torch.cat(seen)
    assert g.abs().max() <= 1e-4 and (g == -1e-4).any() and (g == 1e-4).any()

def test_optimizer_gets_the_configured_settings():
    "weight_decay reaches Adam and SGD; SGD's momentum is Nesterov's whenever it is on (as in the PSA paper's code)."
    from torch import nn
    from sbn_estimators.train import make_optimizer
    m = nn.Linear(3, 2)
    for opt, mom in (('adam', None), ('sgd', 0.5), ('sgd', 0.)):
        cfg = TrainConfig(optimizer=opt, lr=0.1, weight_decay=0.01, **({'momentum': mom} if mom is not None else {}))
        g = make_optimizer(m, cfg, 10).param_groups[1]
        assert g['weight_decay'] == 0.01 and g['lr'] == 0.1
        if opt == 'sgd': assert (g['momentum'], g['nesterov']) == (mom, mom > 0)

def test_a_stage_trains_at_its_own_rate(monkeypatch):
    "A stage's own lr (BinaryDuo's fine-tuning rate, say) is the rate its steps use; a stage without one uses the run's."
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=1, lr=0.01, eval_samples=1, schedule='constant',
                      stages=[{'name': 'a'}, {'name': 'b', 'epochs': 2, 'lr': 0.003}])
    rows, lrs = [], []
    _on_each_step(monkeypatch, lambda opt, args, kw: lrs.append(opt.param_groups[0]['lr']))
    train(cfg, progress=False, callbacks=[lambda e, r: rows.append((r['stage'], r['lr']))])
    assert rows == [('a', 0.01), ('b', 0.003), ('b', 0.003)] and set(lrs) == {0.01, 0.003}

def test_n_train_and_n_test_cut_their_own_splits():
    from sbn_estimators.train import load_data
    full = load_data(TrainConfig())
    n_train, n_test = (len(full.splits[s][1]) for s in ('train', 'test'))
    d = load_data(TrainConfig(n_train=100))
    assert (len(d.splits['train'][1]), len(d.splits['test'][1])) == (100, n_test)
    d = load_data(TrainConfig(n_test=50))
    assert (len(d.splits['train'][1]), len(d.splits['test'][1])) == (n_train, 50)

def test_posterior_concentrated_on_its_mode_predicts_as_the_mode_on_logistic_data():
    "The posterior ensemble thresholds the mean probability (not the summed one) on ±1-labelled data too."
    from torch import nn
    from sbn_estimators.data import cos_dataset
    from sbn_estimators.binary_weights import BinaryWeightLinear
    from sbn_estimators.binary_optimizers import BayesBiNN, binary_param_groups
    from sbn_estimators.train import evaluate, evaluate_posterior
    torch.manual_seed(0)
    d = cos_dataset()
    bnn = nn.Sequential(BinaryWeightLinear(2, 1))
    bopt = BayesBiNN(binary_param_groups(bnn), train_size=len(d.splits['train'][1]))
    bopt.state[bnn[0].weight]['lambda'].copy_(30 * torch.sign(torch.randn_like(bnn[0].weight)))
    bopt.hold('mode'); r = evaluate(bnn, d, 'test', samples=1); bopt.hold('sample')
    rp = evaluate_posterior(bnn, bopt, d, 'test', samples=5)
    assert rp['post_ens_acc'] == r['det_acc'] == rp['post_acc']

def test_evaluation_under_amp_runs_in_bfloat16():
    "evaluate(amp=True) runs the forwards under bfloat16 autocast: the deterministic loss moves a little, not a lot."
    from sbn_estimators.data import digits_data
    from sbn_estimators.models import get_model
    from sbn_estimators.train import evaluate
    torch.manual_seed(0)
    d = digits_data(); net = get_model('sbn_mlp', 'st', in_shape=d.in_shape, width=16)
    r = {}
    for amp in (False, True):
        torch.manual_seed(1); r[amp] = evaluate(net, d, 'val', samples=2, amp=amp)
    assert 0 < abs(r[True]['det_loss'] - r[False]['det_loss']) < 0.05

@pytest.mark.skipif(not FASHION.is_dir(), reason='needs Debian dataset-fashion-mnist (.ci/run installs it)')
def test_posterior_predictive_draws_with_the_runs_seed(monkeypatch):
    "posterior_samples: the test's posterior draws come from a generator seeded by the run's seed (another seed, other draws)."
    import sbn_estimators.train as T
    real, seeds = T.evaluate_posterior, []
    def spy(*a, seed=0, **kw): seeds.append(seed); return real(*a, seed=seed, **kw)
    monkeypatch.setattr(T, 'evaluate_posterior', spy)
    cfg = TrainConfig(data='fashion_mnist', model='fmnist_bnn_conv:width=8', estimator='st:deterministic=true',
                      optimizer='bayesbinn:temperature=1,init_lambda=0.5', lr=1e-2, epochs=1, n_train=128, val=64, n_test=64,
                      batch_size=64, eval_samples=1, posterior_samples=2, seed=7, device='cpu')
    train(cfg, progress=False)
    assert seeds == [7]


def test_cos_subsets_hold_both_classes():
    "The cos splits alternate the classes, so --n-train and --n-test (the first n points) train and test on both."
    from sbn_estimators.train import load_data
    d = load_data(TrainConfig(data='cos', n_train=301, n_test=200, model='sbn_mlp:width=4'))
    for split, n in (('train', 301), ('test', 200)):
        y = d.splits[split][1].flatten()
        assert len(y) == n and (y == 1).sum().item() == (n + 1) // 2 and (y == -1).sum().item() == n // 2, (split, y[:6])


def test_python_arguments_that_would_be_ignored_are_refused():
    "A bare function as callbacks (a list is iterated)."
    with pytest.raises(ValueError, match='callbacks must be a list of functions cb\\(epoch, row\\), got the function'):
        train(TrainConfig(epochs=1), callbacks=print)
    with pytest.raises(ValueError, match='callbacks must be a list of functions'): train(TrainConfig(epochs=1), callbacks=[1])


def test_load_run_rebuilds_the_checkpoints_stage(tmp_path):
    "A staged run's checkpoints fit different networks: load_run builds each one's (the ternary net of the first stage, the decoupled twin after)."
    cfg = TrainConfig(**{**RECIPES['binaryduo_digits'].config, 'epochs': 1, 'eval_samples': 1, 'batch_size': 128,
                         'stages': [{'name': 'coupled'}, {'name': 'finetuned', 'transform': 'decouple'}]})
    res = train(cfg, tmp_path / 'r', progress=False)
    from sbn_estimators.train import load_run, build, smoke_data
    twin, saved = load_run(tmp_path / 'r', 'last.pt')
    assert saved == cfg and not twin.training
    assert all(torch.equal(p, q) for p, q in zip(res['model'].state_dict().values(), twin.state_dict().values()))
    coupled, _ = load_run(tmp_path / 'r', 'stage-coupled.pt')
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}
    assert shapes(coupled) == shapes(build(cfg, smoke_data(cfg))[0]) != shapes(twin)   # the ternary net, not its twin
    with pytest.raises(ValueError, match=r"holds weights of a different model .*; load_run\(folder, checkpoint\) builds the network"):
        load_checkpoint(tmp_path / 'r' / 'last.pt', coupled)
    with pytest.raises(ValueError, match=r"checkpoint: run folder .* has no stage-nope.pt; its checkpoints: best.pt, last.pt, stage-"): load_run(tmp_path / 'r', 'stage-nope.pt')
    for bad in ('../r/last.pt', 'last', None):
        with pytest.raises(ValueError, match=rf"checkpoint must name a checkpoint file in the run folder .*, got {re.escape(repr(bad))}"): load_run(tmp_path / 'r', bad)
    import shutil; shutil.copytree(tmp_path / 'r', tmp_path / 's')   # another run's checkpoint copied in: refused, as --resume refuses it
    train(TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1), tmp_path / 'o', progress=False)
    shutil.copy(tmp_path / 'o' / 'last.pt', tmp_path / 's' / 'best.pt')
    with pytest.raises(ValueError, match=r"s/best.pt belongs to another run: its configuration differs from .*config.json \(model: best.pt 'sbn_mlp:width=16', config.json 'duo_mlp"):
        load_run(tmp_path / 's', 'best.pt')


def test_a_missing_last_pt_gets_the_advice_of_a_damaged_one(tmp_path):
    "kill -9 after best.pt and before last.pt of the first epoch: --resume says best.pt can stand in for last.pt."
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=2, eval_samples=1)
    train(cfg, tmp_path / 'r', progress=False)
    (tmp_path / 'r' / 'last.pt').unlink()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*last.pt; .*best.pt holds all that resuming needs: copy it over"):
        train(cfg, tmp_path / 'r', resume=True, progress=False)
