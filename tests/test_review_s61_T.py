"Review s61, fixes T: a Quantize/decouple backward proxy given as a spec is taken as the same estimator given as an instance (the trainer schedules it), and sbn-train's message no longer calls it invalid; RBNN's floor at or below t_min is moot without the schedule too; sbn-train advises the other schedule setting only where it accepts the estimator; resuming without last.pt keeps its error when best.pt cannot be read; --smoke's generated CIFAR-10 holds two training batches for any batch size."
import shutil, pytest, torch
from torch import nn
from conftest import sbn_train
from sbn_estimators.estimators import estimator, check_schedule_params
from sbn_estimators.train import TrainConfig, train, smoke_data, _check_schedule

torch.set_num_threads(1)


# A1. a Quantize's backward proxy as a spec: as the same estimator given as an instance (the trainer's schedule sets it)

def test_quantize_and_decouple_take_a_scheduled_spec_as_its_instance():
    from sbn_estimators.binaryduo import Quantize, decouple
    from sbn_estimators.models import get_model
    torch.manual_seed(0)
    coupled = get_model('duo_mlp', in_shape=(64,))
    spec = decouple(coupled, 'ede:t_max=5')   # was: refused, t_max=5.0 would be ignored
    inst = decouple(coupled, estimator('ede:t_max=5'))
    hp = lambda m: [q.proxy.hparams() for q in m.modules() if getattr(q, 'steps', None) == 1]   # the binary units' backward proxies
    assert hp(spec) == hp(inst) and hp(spec) and all(h['t_max'] == 5. for h in hp(spec))
    assert Quantize(1, proxy='progressive_sign:alpha=50,beta=3').proxy.alpha == 50.   # was: refused

def test_a_measurement_still_refuses_a_schedule_only_parameter_of_a_quantize_proxy():
    from sbn_estimators.binaryduo import Quantize
    from sbn_estimators.mismatch import mismatch, set_proxy
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), Quantize(1, proxy='clipped_st'), nn.Linear(6, 3))
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    with pytest.raises(ValueError, match="t_max=5.0 would be ignored"): set_proxy(net, 'ede:t_max=5')
    with pytest.raises(ValueError, match="t_max=5.0 would be ignored"): mismatch(net, x, y, proxies=['ede:t_max=5'], samples=4)
    assert net[2].proxy.name == 'clipped_st'

def test_sbn_train_message_for_an_estimator_of_a_coupled_model_is_true(capsys):
    code, out, err = sbn_train(capsys, '--data', 'digits', '--model', 'duo_mlp', '--estimator', 'ede:t_max=5', '--epochs', '1', '--smoke')
    assert code == 2 and "--estimator ede:t_max=5 is not used: model 'duo_mlp' has no binary units" in err
    assert 'decouple the units in a later stage' in err and 'would be ignored' not in err   # was: "nor could it be the backward of decoupled units"


# A3. RBNN without the schedule: t = max(t_min, t_floor) = t_min where 0 < t_floor <= t_min, so the floor is moot

def test_rbnn_floor_at_or_below_t_min_is_moot_without_the_schedule():
    with pytest.raises(ValueError, match=r"t_floor=1.0 would be ignored \(t stays at t_min"):
        check_schedule_params(estimator('rbnn:t_min=2,t_floor=1'), False)   # was: accepted
    a, b = estimator('rbnn:t_min=2,t_floor=1'), estimator('rbnn:t_min=2')
    assert (a.t, a.k) == (b.t, b.k)   # why: the same numbers as without the floor
    assert set(estimator('rbnn:t_min=0.5,t_floor=0.5').moot_params(False)) == {'t_min', 't_floor'}
    for spec in ('rbnn:t_floor=1', 'rbnn:t_min=1,t_max=1'): check_schedule_params(estimator(spec), False)   # a floor above t_min acts; no floor


def test_mismatch_point_advice_says_rbnn_without_a_floor():
    from sbn_estimators.mismatch import proxy_estimator
    with pytest.raises(ValueError, match=r"t_floor=1.0 would be ignored .*t_min = t_max for ede, and for rbnn without a floor"):
        proxy_estimator('rbnn:t_min=2,t_floor=1')

# A4. the trainer advises the other schedule setting only where it accepts the estimator

@pytest.mark.parametrize('scheduled', [True, False])
def test_no_circular_schedule_advice_for_rbnn_floor(scheduled):
    with pytest.raises(ValueError, match=r"would be ignored .*: leave it at its default$"):   # was: "..., or train with/without it"
        _check_schedule(TrainConfig(estimator='rbnn:t_min=0.5,t_floor=0.5', est_schedule=scheduled))

def test_schedule_advice_kept_where_the_other_setting_accepts():
    with pytest.raises(ValueError, match=r"t_max=5.0 would be ignored .*or train with it \(est_schedule=True"):
        _check_schedule(TrainConfig(estimator='ede:t_max=5', est_schedule=False))
    with pytest.raises(ValueError, match=r"t_min=0.5 would be ignored .*or train with it \(est_schedule=True"):
        _check_schedule(TrainConfig(estimator='rbnn:t_min=0.5,t_floor=1', est_schedule=False))
    _check_schedule(TrainConfig(estimator='rbnn:t_min=0.5,t_floor=1', est_schedule=True))   # the floor acts once t passes it

# A6. resuming without last.pt, best.pt a folder: the last.pt error stands

def test_resume_without_last_pt_and_best_pt_a_folder(tmp_path):
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=1, eval_samples=1, n_train=64, val=32, n_test=64)
    out = tmp_path / 'r'
    train(cfg, out, progress=False)
    (out / 'last.pt').unlink(); (out / 'best.pt').unlink(); (out / 'best.pt').mkdir()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*last\.pt; start the run afresh with another --out"):   # was: best.pt is a folder
        train(cfg, out, resume=True, progress=False)


# F1. --smoke's generated CIFAR-10: two training batches for any accepted batch size

@pytest.mark.parametrize('B', [300, 24966])
def test_smoke_cifar10_generated_has_two_batches(B, tmp_path):
    d = smoke_data(TrainConfig(data='cifar10', data_dir=str(tmp_path / 'none'), model='sbn_mlp', batch_size=B))   # was: one batch; 24966 refused
    assert len(d.splits['train'][1]) == 2 * B and d.splits['train'][0].shape[1:] == (3, 32, 32)
    assert type(d.transform).__name__ == 'partial'   # the CIFAR loader's transform, flattened for the MLP

