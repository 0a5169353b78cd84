"Review s59 (K1): evaluation of networks that sample nothing (one forward, --eval-samples refused); --(no-)est-schedule refused without a schedule; a last.pt beyond the run's epochs refused as damaged."
import json, pytest, torch
import sbn_estimators.train as T
from sbn_estimators.train import TrainConfig, train, train_cli, config_from_args, _parser, load_checkpoint, save_checkpoint, evaluate
from sbn_estimators.data import digits_data
from sbn_estimators.models import get_model

torch.set_num_threads(1)
TINY = dict(model='sbn_mlp:width=8', epochs=2, eval_samples=1, n_train=64, val=32, n_test=64, batch_size=32, device='cpu')

def status(capsys, *argv):
    with pytest.raises(SystemExit) as e: train_cli(list(argv))
    return e.value.code, capsys.readouterr().err

# 1. networks that sample nothing in evaluation (BinaryDuo's): one forward per batch, the same numbers
def test_duo_evaluation_runs_one_forward_per_batch():
    torch.manual_seed(0)
    d = digits_data()
    net = get_model('duo_mlp', 'clipped_st', in_shape=d.in_shape)
    calls = []
    h = net.register_forward_hook(lambda *a: calls.append(1))
    r = evaluate(net, d, 'val', samples=5, batch_size=1000)
    h.remove()
    assert len(calls) == 1, len(calls)   # was 6: five identical samples and the deterministic pass
    assert r['acc'] == r['ens_acc'] == r['det_acc'] and r['loss'] == r['det_loss']
    net.eval()
    with torch.no_grad(): eta = net(d.input(d.splits['val'][0]))   # the numbers by hand, from the one forward
    assert r['det_acc'] == (eta.argmax(-1) == d.splits['val'][1]).double().mean().item()
    assert T.selection_metric(TrainConfig(data='digits', model='duo_mlp', device='cpu')) == 'val_acc'   # unchanged: val_acc equals val_det_acc here, and 0.2.3's searches stay valid

def test_eval_samples_refused_where_nothing_is_sampled(capsys):
    with pytest.raises(ValueError, match=r"--eval-samples 20 is not used: model 'duo_mlp' samples nothing in evaluation \(every unit deterministic\); drop --eval-samples"):
        config_from_args(_parser().parse_args(['--recipe', 'binaryduo_digits', '--eval-samples', '20', '--smoke']))
    code, err = status(capsys, '--threads', '1', '--model', 'duo_mlp', '--eval-samples', '3', '--smoke')
    assert code == 2 and "--eval-samples 3 is not used: model 'duo_mlp'" in err, err
    assert config_from_args(_parser().parse_args(['--recipe', 'binaryduo_digits', '--smoke'])).eval_samples == TrainConfig(**T.RECIPES['binaryduo_digits'].config).eval_samples   # the recipe's own: kept
    assert config_from_args(_parser().parse_args(['--model', 'sbn_mlp:width=8', '--eval-samples', '3', '--smoke'])).eval_samples == 3   # sampled units: used

def test_duo_run_says_it_samples_nothing(tmp_path, capsys):
    train_cli(['--threads', '1', '--recipe', 'binaryduo_digits', '--n-train', '128', '--val', '32', '--n-test', '64', '--batch-size', '64',
               '--stages', '[{"name": "coupled", "epochs": 1}, {"name": "finetuned", "transform": "decouple", "epochs": 1, "lr": 0.001}]',
               '--out', str(tmp_path / 'r')])
    out, err = capsys.readouterr()
    assert 'evaluations sample nothing (every unit deterministic)' in err and 'samples per example' not in err, err
    res = json.loads((tmp_path / 'r' / 'result.json').read_text())
    assert res['test_acc'] == res['test_ens_acc'] == res['test_det_acc'] and res['best_metric'] == 'val_acc'

# 2. --est-schedule / --no-est-schedule without any schedule
@pytest.mark.parametrize('flag', ['--no-est-schedule', '--est-schedule'])
def test_est_schedule_refused_without_a_schedule(flag, capsys):
    code, err = status(capsys, '--threads', '1', '--smoke', '--estimator', 'st', flag)
    assert code == 2 and (f"{flag} is not used: estimator 'st' (and model 'sbn_mlp') has no schedule; "
                          "schedules: ede, progressive_sign, rbnn, reste") in err, err
    assert config_from_args(_parser().parse_args(['--smoke', '--estimator', 'reste', flag])).est_schedule is (flag == '--est-schedule')
    assert config_from_args(_parser().parse_args(['--smoke', '--estimator', 'ede', flag])).est_schedule is (flag == '--est-schedule')

# 3. a last.pt whose epoch is beyond the run's length
def test_resume_refuses_a_last_pt_beyond_the_run(tmp_path):
    cfg = TrainConfig(**TINY)
    train(cfg, tmp_path / 'r', progress=False)
    (tmp_path / 'r' / 'result.json').unlink()   # a finished run whose result was not written: resumes (tests, writes it)
    train(cfg, tmp_path / 'r', resume=True, progress=False)
    assert (tmp_path / 'r' / 'result.json').is_file()
    (tmp_path / 'r' / 'result.json').unlink()
    ck = load_checkpoint(tmp_path / 'r' / 'last.pt')
    for bad in (dict(stage_epoch=7, epoch=7), dict(epoch=9)):   # beyond the 2 epochs; an epoch its stage_epoch contradicts
        save_checkpoint(tmp_path / 'r' / 'last.pt', **{**ck, **bad})
        with pytest.raises(ValueError, match=r"last\.pt is damaged: its epoch .* is not one the run has"):
            train(cfg, tmp_path / 'r', resume=True, progress=False)
    assert not (tmp_path / 'r' / 'result.json').exists()   # was written: nothing trained, exit 0
