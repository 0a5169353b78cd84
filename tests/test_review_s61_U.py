"Review s61 (fix U): a re-registered estimator's earlier instances keep their spec; save_sbn's errors name the user's path; sbn-bench --list leaves out exact; GumbelRao under torch.func.vmap."
import types, sys
import pytest, torch
from sbn_estimators import estimator
from sbn_estimators.estimators import ESTIMATORS, ALIASES

torch.set_num_threads(1)


# --- A2. a class registered again (a re-run cell, a plugin file run again) ----------------------------------------------

CELL = ("from sbn_estimators.estimators import register_estimator\n"
        "from sbn_estimators.straight_through import ST\n"
        "@register_estimator('rev_a_st')\n"
        "class RevAST(ST): 'An ST registered by a notebook cell.'\n")

@pytest.fixture
def cell_module():
    "A module standing for a notebook's namespace, in which `CELL` runs; its registration removed after."
    mod = types.ModuleType('fixu_cell_mod')
    sys.modules[mod.__name__] = mod
    try: yield mod
    finally:
        ESTIMATORS.pop('rev_a_st', None)
        for a in [a for a, n in ALIASES.items() if n == 'rev_a_st']: del ALIASES[a]
        del sys.modules[mod.__name__]

def test_an_estimator_made_before_its_cell_ran_again_keeps_its_spec(cell_module):
    exec(CELL, cell_module.__dict__)
    e = estimator('rev_a_st:noise=normal')
    exec(CELL, cell_module.__dict__)   # the cell run again: a new class RevAST replaces the registered one
    assert ESTIMATORS['rev_a_st'] is not type(e)
    assert e.spec == 'rev_a_st:noise=normal'   # was 'RevAST:noise=normal'
    f = estimator(e.spec)                       # was: unknown estimator 'RevAST'
    assert type(f) is ESTIMATORS['rev_a_st'] and f.hparams() == e.hparams()

def test_a_subclass_of_a_registered_class_still_names_its_class(cell_module):
    exec(CELL, cell_module.__dict__)
    class Mine(cell_module.RevAST): pass
    assert (Mine().name, Mine().spec, Mine(noise='normal').spec) == ('rev_a_st', 'Mine', 'Mine:noise=normal')
    with pytest.raises(ValueError, match="unknown estimator 'Mine'"): estimator(Mine().spec)


def test_gradeval_labels_an_estimator_made_before_its_cell_ran_again_by_its_spec(cell_module):
    from sbn_estimators.gradeval import _estimator_label
    exec(CELL, cell_module.__dict__)
    e = estimator('rev_a_st:noise=normal')
    exec(CELL, cell_module.__dict__)
    assert _estimator_label(e) == 'rev_a_st:noise=normal'   # was 'RevAST'
    class Mine(cell_module.RevAST): pass
    assert _estimator_label(Mine()) == 'Mine'


# --- A5. an atomic write's error names the user's file, not the hidden temporary one ------------------------------------

def _writers():
    from matplotlib.figure import Figure
    from sbn_estimators.cli import save_json, save_figure, torch_save
    from sbn_estimators.sbn import SBNMLP, cos_data, init_sbn_, save_sbn
    X, Y = cos_data(5, seed=0)
    net = init_sbn_(SBNMLP([2, 3, 1]), X, seed=0)
    fig = Figure(figsize=(1, 1))
    return dict(save_sbn=lambda p: save_sbn(p, net, X, Y), save_json=lambda p: save_json(p, {'a': 1}),
                torch_save=lambda p: torch_save(p, {'a': 1}), save_figure=lambda p: save_figure(fig, p))

@pytest.mark.parametrize('writer', ['save_sbn', 'save_json', 'torch_save'])
def test_a_write_into_a_missing_folder_names_the_file(tmp_path, writer):
    path = tmp_path / 'no_such_folder' / 'out.npz'
    with pytest.raises(FileNotFoundError) as e: _writers()[writer](path)
    assert e.value.filename == str(path) and '.tmp' not in str(e.value)   # was '.../no_such_folder/.out.npz.PID.tmp'

@pytest.mark.parametrize('writer', ['save_sbn', 'save_json', 'torch_save', 'save_figure'])
def test_a_write_onto_a_folder_names_the_file(tmp_path, writer):
    path = tmp_path / ('a_folder.png' if writer == 'save_figure' else 'a_folder.npz'); (path / 'inside').mkdir(parents=True)   # not empty: os.replace refuses it everywhere
    with pytest.raises(OSError) as e: _writers()[writer](path)
    assert e.value.filename == str(path) and e.value.filename2 is None and '.tmp' not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]   # the temporary file removed


# --- E1. sbn-bench --list offers only the estimators sbn-bench measures -------------------------------------------------

def test_bench_list_leaves_out_exact(capsys):
    from sbn_estimators.bench import bench_cli
    bench_cli(['--list'])
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith('estimators:'))
    offered, _, note = line.split('any registry spec: ', 1)[1].partition(' (not ')
    names = offered.split(', ')
    assert 'st' in names and 'psa' in names and 'exact' not in names   # was offered, and refused for every network
    assert note.startswith('exact, which enumerates every binary state')
    with pytest.raises(SystemExit) as e: bench_cli(['--estimators', 'exact', '--nets', 'fc'])   # the same rule refuses it
    assert e.value.code == 2 and "'exact' enumerates every binary state" in capsys.readouterr().err


# --- B3. GumbelRao under torch.func.vmap ------------------------------------------------------------------------------

def test_gumbel_rao_per_sample_gradients_under_vmap():
    "vmap(grad) with randomness='same' draws each noise once for the batch: each sample's gradient is the one a loop gets from the same seed (was: RuntimeError output with shape [10, 1, 3] doesn't match the broadcast shape [6, 10, 1, 3])."
    from torch import nn
    from torch.func import functional_call, grad, vmap
    from sbn_estimators.layers import BinaryActivation
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), BinaryActivation('gumbel_rao:k=10'), nn.Linear(3, 1)).double()
    params = {k: p.detach() for k, p in model.named_parameters()}
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    loss = lambda p, xi, yi: ((functional_call(model, p, (xi[None],)) - yi) ** 2).sum()
    torch.manual_seed(1)
    batched = vmap(grad(loss), in_dims=(None, 0, 0), randomness='same')(params, x, y)
    for i in range(len(x)):
        torch.manual_seed(1)
        g = grad(loss)(params, x[i], y[i])
        for k in params: torch.testing.assert_close(batched[k][i], g[k], rtol=1e-12, atol=1e-12)
    assert batched['0.weight'].abs().sum() > 0   # the slope reached the first layer
