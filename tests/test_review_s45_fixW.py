"Review s45, fix W: augment stays unset in `TrainConfig` (a copy for another dataset or model gets that one's default); 'sample' evaluation of local-estimator weight binarizers is binary (sign(w - Z)), progressive_sign's sign(w) counts as deterministic; sbn-bench's interrupt note names FILE.jsonl; RunFolder's note for a run stopped before it could be resumed."
import dataclasses, json
import pytest, torch
from torch import nn
import torch.nn.functional as F
from sbn_estimators.train import TrainConfig, train, load_run, load_data, load_checkpoint, save_checkpoint, selection_metric
from sbn_estimators.data import write_fake_cifar10
from sbn_estimators.binary_weights import BinaryWeightLinear
from conftest import sbn_train

torch.set_num_threads(1)


# 1. augment: None is kept (the dataset's default), resolved where the data is built

def test_a_copy_for_cifar10_gets_cifar10s_augmentation(tmp_path):
    write_fake_cifar10(tmp_path / 'c', n_per_batch=4, seed=0)
    cfg = dataclasses.replace(TrainConfig(data='digits', model='resnet20'), data='cifar10', data_dir=str(tmp_path / 'c'), val=4)
    assert cfg.augment is None
    assert load_data(cfg).augment is not None   # was: augment False carried over from the digits, a run without flip and crop


def test_a_copy_for_a_flat_input_model_is_accepted_and_not_augmented(tmp_path):
    write_fake_cifar10(tmp_path / 'c', n_per_batch=4, seed=0)
    base = TrainConfig(data='cifar10', model='resnet20', data_dir=str(tmp_path / 'c'), val=4)
    cfg = dataclasses.replace(base, model='sbn_mlp')   # was: "model 'sbn_mlp' reads flat input ... got augment True"
    assert cfg.augment is None and load_data(cfg).augment is None
    assert load_data(base).augment is not None
    with pytest.raises(ValueError, match="reads flat input"): dataclasses.replace(base, model='sbn_mlp', augment=True)   # given: refused


def _stub(seen):
    def train_fn(cfg, out=None, callbacks=(), progress=False, **kw):
        seen.append(cfg)
        for cb in callbacks: cb(1, dict(epoch=1, train_loss=1., val_loss=1., val_acc=.5, val_ens_acc=.5, val_det_acc=.5))
        return dict(test_loss=1., test_acc=.5, test_ens_acc=.5, test_det_acc=.5, seconds_per_epoch=1.)
    return train_fn


def test_run_comparison_changes_the_model_and_data_per_method(tmp_path):
    from sbn_estimators.lr_search import run_comparison
    from sbn_estimators.train import _augments
    write_fake_cifar10(tmp_path / 'c', n_per_batch=4, seed=0)
    base = TrainConfig(data='cifar10', model='resnet20', data_dir=str(tmp_path / 'c'), val=4, epochs=1)
    seen = []
    methods = {'conv': {}, 'mlp': {'model': 'sbn_mlp'}}   # was: methods['mlp']: model 'sbn_mlp' reads flat input
    rows = run_comparison(base, methods, tmp_path / 'cmp', seeds=(0,), grid=(1e-3,), train_fn=_stub(seen), log=None)
    assert [_augments(c) for c in seen] == [True, False] and [r['config']['augment'] for r in rows] == [None, None]
    seen.clear()
    digits = TrainConfig(model='resnet20', epochs=1)
    run_comparison(digits, {'cifar': {'data': 'cifar10', 'data_dir': str(tmp_path / 'c'), 'val': 4}}, tmp_path / 'cmp2', seeds=(0,),
                   grid=(1e-3,), train_fn=_stub(seen), log=None)
    assert _augments(seen[0]) is True   # was False: the digits' resolved value


def test_configurations_compare_on_the_augmentation_applied(tmp_path):
    from sbn_estimators.train import _config_diff
    assert _config_diff(TrainConfig(augment=False), TrainConfig()) == ''   # a resolved value saved by an earlier version
    c = dict(data='cifar10', data_dir=str(tmp_path))
    assert _config_diff(TrainConfig(**c, augment=True), TrainConfig(**c)) == ''
    assert _config_diff(TrainConfig(**c, augment=False), TrainConfig(**c)) == 'augment: saved False, given True'


def _stopped(folder, cfg, augment=...):
    "A run interrupted after its first epoch; with `augment` given, its config.json and checkpoints rewritten to hold it."
    class Stop(Exception): pass
    def stop(epoch, row): raise Stop
    with pytest.raises(Stop): train(cfg, folder, callbacks=[stop], progress=False)
    if augment is ...: return
    c = json.loads((folder / 'config.json').read_text()); c['augment'] = augment
    (folder / 'config.json').write_text(json.dumps(c))
    for name in ('last.pt', 'best.pt'):
        ck = load_checkpoint(folder / name); ck['config']['augment'] = augment; ck.pop('format')
        save_checkpoint(folder / name, **ck)


def test_a_new_run_resumes_and_loads_with_augment_unset(tmp_path, capsys):
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=2, n_train=64, eval_samples=1)
    _stopped(tmp_path / 'a', cfg)
    assert json.loads((tmp_path / 'a' / 'config.json').read_text())['augment'] is None   # unset: what run_comparison's records hold too
    assert load_run(tmp_path / 'a', 'last.pt')[1] == cfg
    code, _, err = sbn_train(capsys, '--resume', '--out', str(tmp_path / 'a'), '--threads', '1', '--quiet')
    assert code == 0, err
    code, _, err = sbn_train(capsys, '--config', str(tmp_path / 'a' / 'config.json'), '--smoke', '--threads', '1')
    assert code == 0, err


@pytest.mark.parametrize('saved', [False, True])   # this session's earlier resolved value; the value of the versions before it
def test_a_folder_holding_a_resolved_value_resumes_with_an_unset_one(tmp_path, capsys, saved):
    cfg = TrainConfig(model='sbn_mlp:width=8', epochs=2, n_train=64, eval_samples=1)
    _stopped(tmp_path / 'a', cfg, saved)
    assert 'test_acc' in train(cfg, tmp_path / 'a', resume=True, progress=False)   # the configuration as it is made now: augment None
    _stopped(tmp_path / 'b', cfg, saved)
    code, _, err = sbn_train(capsys, '--resume', '--out', str(tmp_path / 'b'), '--threads', '1', '--quiet')
    assert code == 0, err


def test_recipes_leave_augment_unset():
    from sbn_estimators.train import RECIPES, _augments
    for name, r in RECIPES.items():
        assert 'augment' not in r.config, name
    assert _augments(TrainConfig(**{**RECIPES['reste_resnet20'].config, 'data_dir': '/nowhere'})) is True
    assert _augments(TrainConfig(**RECIPES['fmnist_mlp_st'].config)) is False


def test_run_comparison_continues_a_run_stopped_part_way(tmp_path):
    "run_comparison compares a part-way run's config.json with its configuration: augment unset in both."
    from sbn_estimators.lr_search import run_comparison
    base = TrainConfig(model='sbn_mlp:width=8', epochs=2, n_train=64, eval_samples=1, device='cpu')
    def stop_after_one(cfg, out=None, callbacks=(), progress=False, **kw):
        def cb(epoch, row):
            if epoch == 1: raise KeyboardInterrupt
        return train(cfg, out, callbacks=[*callbacks, cb], progress=progress, **kw)
    with pytest.raises(KeyboardInterrupt):
        run_comparison(base, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3,), train_fn=stop_after_one, log=None)
    assert len(run_comparison(base, {'st': {}}, tmp_path, seeds=(0,), grid=(1e-3,), log=None)) == 1


# 2. weights of local-estimator binarizers without a sign(w) forward: binary in both evaluations

SAMPLED = ('mean_field', 'concrete', 'zgr', 'decoupled_st', 'gumbel_softmax')


@pytest.mark.parametrize('name', SAMPLED)
def test_sample_evaluation_of_such_weights_is_binary(name):
    from sbn_estimators.estimators import estimator
    from sbn_estimators.train import _forward
    torch.manual_seed(0)
    m = nn.Sequential(BinaryWeightLinear(4, 3, bias=False, binarize=estimator(name))).eval()
    out = _forward(m, torch.eye(4), False, 'sample')   # the rows are the weights the evaluation used
    assert set(out.unique().tolist()) <= {-1., 1.}, out   # was the training forward: tanh(w/2), a relaxed sample, ...


def test_sampled_weights_have_the_binarizers_mean():
    from sbn_estimators.estimators import estimator
    from sbn_estimators.stats import binomial_z, z_threshold
    torch.manual_seed(0)
    lay = BinaryWeightLinear(3, 2, binarize=estimator('mean_field')).eval()
    draws = torch.stack([lay.binary_weight().detach() for _ in range(20000)])
    assert set(draws.unique().tolist()) == {-1., 1.}   # was tanh(w/2) every time
    w, n = lay.weight.detach().double(), len(draws)
    plus = (draws == 1).sum(0)
    assert binomial_z(plus, n, torch.sigmoid(w)).abs().max() < z_threshold(w.numel())   # P(+1) = sigmoid(w), per weight
    assert binomial_z(plus, n, torch.sigmoid(2 * w)).abs().max() > z_threshold(w.numel())   # a wrong scale is caught
    lay.train()
    assert torch.allclose(lay.binary_weight(), torch.tanh(lay.weight / 2))   # training: the estimator's own forward


def test_a_gradient_through_sampled_weights_is_the_binarizers():
    from sbn_estimators.estimators import estimator
    torch.manual_seed(0)
    lay = BinaryWeightLinear(4, 3, bias=False, binarize=estimator('mean_field'), dtype=torch.float64).eval()
    x = torch.randn(5, 4, dtype=torch.float64)
    lay(x).sum().backward()
    w = lay.weight.detach().clone().requires_grad_()
    (x @ estimator('mean_field')(w).T).sum().backward()
    assert torch.equal(lay.weight.grad, w.grad)


def test_progressive_sign_weights_evaluate_as_signs_and_count_as_deterministic():
    from sbn_estimators.estimators import estimator
    from sbn_estimators.layers import BinaryActivation, binary_eval_mode
    from sbn_estimators.straight_through import sign_pm
    from sbn_estimators.train import _evaluates_det
    torch.manual_seed(0)
    m = nn.Sequential(BinaryWeightLinear(4, 3, binarize=estimator('progressive_sign')), BinaryActivation('progressive_sign'), nn.Linear(3, 2)).eval()
    with binary_eval_mode(m, 'sample'): assert torch.equal(m[0].binary_weight().detach(), sign_pm(m[0].weight.detach()))
    assert _evaluates_det(m, estimator('progressive_sign')) is True   # was False: best.pt on the sampled activations and hardtanh weights
    m = nn.Sequential(BinaryWeightLinear(4, 3, binarize=estimator('mean_field')), BinaryActivation('st', eval_mode='det'), nn.Linear(3, 2))
    assert _evaluates_det(m, estimator('st')) is False   # sampled weights: best.pt on the sampled (binary) network


# 3. sbn-bench: the interrupt note names the suffix --json needs (tests/test_bench_cli.py checks the whole message)

def test_bench_interrupt_note_names_jsonl():
    import inspect
    from sbn_estimators import bench
    src = inspect.getsource(bench._bench)
    assert '--json FILE.jsonl would keep the rows' in src and '--json FILE would' not in src


# 4. RunFolder: a folder holding the first epoch's best.pt (a checkpoint) too

def test_run_folder_note_for_a_run_stopped_before_it_could_be_resumed(tmp_path, capsys):
    from sbn_estimators.cli import RunFolder
    run = tmp_path / 'r'; run.mkdir()
    for n in ('config.json', 'references.bib', 'best.pt'): (run / n).write_text('x')
    with RunFolder(run, preliminary=('config.json', 'references.bib', 'best.pt')): pass
    err = capsys.readouterr().err
    assert 'holds only best.pt, config.json, references.bib of a run stopped before it could be resumed (no last.pt); starting afresh' in err, err
    assert 'before its first checkpoint' not in err   # best.pt is a checkpoint
