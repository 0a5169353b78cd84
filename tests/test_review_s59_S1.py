"Review s59 (S1): stored records import no plugin files; a damaged last.pt is one line, exit 2; sbn-train's --config help and final line."
import dataclasses, json, shutil
import pytest, torch
from sbn_estimators.train import TrainConfig, train_cli, load_checkpoint, _parser, _saved_settings
from sbn_estimators.lr_search import search_lr, run_comparison


def _plugin(tmp_path):
    "A plugin file that leaves a mark when imported, and the mark's path."
    mark = tmp_path / 'imported'
    p = tmp_path / 'evil_plugin_s59.py'; p.write_text(f"open({str(mark)!r}, 'w').write('ran')\n")
    return p, mark

def _record_config(cfg, plugin):
    c = json.loads(json.dumps(dataclasses.asdict(cfg)))
    c.update(augment=True, plugins=str(plugin))   # an earlier version's augment true: what made `_saved_settings` look up the plugin's names
    return c

def test_saved_settings_imports_plugins_only_when_asked(tmp_path):
    plugin, mark = _plugin(tmp_path)
    d = dict(data='digits', augment=True, plugins=str(plugin))
    assert _saved_settings(d) == {**d, 'augment': None} and not mark.exists()   # digits takes no augment: unset, nothing imported
    d = dict(data='no_such_data_s59', augment=True, plugins=str(plugin))
    assert _saved_settings(d) is d and not mark.exists()   # a name no imported module registers: as it is
    _saved_settings(d, import_plugins=True); assert mark.exists()   # TrainConfig.from_dict and sbn-train, which import them anyway

def test_search_lr_record_naming_a_plugin_imports_nothing(tmp_path):
    plugin, mark = _plugin(tmp_path)
    cfg = TrainConfig(data='digits', epochs=1)
    out = tmp_path / 'lrs'; out.mkdir()
    (out / 'lr_search.json').write_text(json.dumps(dict(config=_record_config(cfg, plugin), grid=[1e-3], epochs=1, metric=None, trials=[])))
    try: search_lr(cfg, grid=(1e-3,), out=out, train_fn=lambda *a, **k: None)
    except Exception: pass   # refused or not: the record's plugin must not have run
    assert not mark.exists()

def test_run_comparison_summary_naming_a_plugin_imports_nothing(tmp_path):
    plugin, mark = _plugin(tmp_path)
    cfg = TrainConfig(data='digits', epochs=1)
    run = tmp_path / 'cmp' / 'st' / 'seed0'; run.mkdir(parents=True)
    (run / 'summary.json').write_text(json.dumps(dict(method='st', seed=0, lr=1e-3, config=_record_config(cfg, plugin), curve=[], test_acc=0.1,
                                                      test_ens_acc=0.1, test_det_acc=0.1, seconds_per_epoch=1.0)))
    with pytest.raises(ValueError, match='another configuration'):
        run_comparison(cfg, {'st': {'estimator': 'st'}}, tmp_path / 'cmp', seeds=(0,), grid=(1e-3,), train_fn=lambda *a, **k: None, log=None)
    assert not mark.exists()


def test_config_help_warns_that_plugins_run():
    act = next(a for a in _parser()._actions if '--config' in a.option_strings)
    assert '"plugins"' in act.help and 'code runs' in act.help and 'trust' in act.help


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('s59') / 'r0'
    train_cli(['--threads', '1', '--quiet', '--epochs', '1', '--n-train', '256', '--model', 'sbn_mlp:width=16', '--out', str(out)])
    return out

CASES = {
    'no rng': lambda ck: ck.pop('rng'),
    'rng a string': lambda ck: ck.__setitem__('rng', 'x'),
    'rng of 3 bytes': lambda ck: ck.__setitem__('rng', [{'cpu': torch.zeros(3, dtype=torch.uint8), 'cuda': []}]),
    'rng cuda not a list': lambda ck: ck.__setitem__('rng', [{'cpu': ck['rng'][0]['cpu'], 'cuda': 'x'}]),
    'no model': lambda ck: ck.pop('model'),
    'model a list': lambda ck: ck.__setitem__('model', [1, 2]),
    'model of strings': lambda ck: ck.__setitem__('model', {k: 'x' for k in ck['model']}),
    'scheduler junk': lambda ck: ck.__setitem__('scheduler', {'lr_lambdas': 5}),
    'scheduler a list': lambda ck: ck.__setitem__('scheduler', [1]),
    'optimizer junk': lambda ck: ck.__setitem__('optimizer', {'state': {}, 'param_groups': 'x'}),
    'optimizer of no groups': lambda ck: ck.__setitem__('optimizer', {'state': {}, 'param_groups': []}),
    'metrics row junk': lambda ck: ck.__setitem__('metrics', [{'epoch': 'x'}]),
    'metrics row without seconds': lambda ck: ck.__setitem__('metrics', [{k: v for k, v in r.items() if k != 'seconds'} for r in ck['metrics']]),
    'metrics row extra column': lambda ck: ck.__setitem__('metrics', [dict(r, foo=1) for r in ck['metrics']]),
}

@pytest.mark.parametrize('case', list(CASES))
def test_a_damaged_last_pt_is_one_line_exit_2(finished_run, tmp_path, capsys, case):
    run = tmp_path / 'run'; shutil.copytree(finished_run, run); (run / 'result.json').unlink()   # a run to resume
    ck = torch.load(run / 'last.pt', weights_only=True); CASES[case](ck); torch.save(ck, run / 'last.pt')
    capsys.readouterr()
    with pytest.raises(SystemExit) as e: train_cli(['--resume', '--out', str(run), '--threads', '1', '--quiet'])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and 'last.pt is damaged' in err[0] and 'best.pt' in err[0], err

@pytest.mark.parametrize('case', ['rng a string', 'rng of 3 bytes', 'model a list', 'optimizer junk', 'metrics row junk'])
def test_load_checkpoint_says_damaged(finished_run, tmp_path, case):
    ck = torch.load(finished_run / 'last.pt', weights_only=True); CASES[case](ck); torch.save(ck, tmp_path / 'x.pt')
    with pytest.raises(ValueError, match='x.pt is damaged'): load_checkpoint(tmp_path / 'x.pt')

def test_a_whole_checkpoint_still_loads_and_resumes(finished_run, tmp_path, capsys):
    assert load_checkpoint(finished_run / 'last.pt')['epoch'] == 1
    run = tmp_path / 'run'; shutil.copytree(finished_run, run); (run / 'result.json').unlink()
    train_cli(['--resume', '--out', str(run), '--threads', '1', '--quiet'])
    assert 'expected test loss' in capsys.readouterr().out and (run / 'result.json').is_file()
