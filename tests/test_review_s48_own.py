"Session 48: one way to save a figure (`cli.save_figure`), used by `plot_report` and `plot_metrics`."
import io
import matplotlib
matplotlib.use('Agg')
from sbn_estimators import cli
from sbn_estimators.gradeval import plot_report


def _report():
    curves = dict(M=[1, 10, 100], rel_rmse=[1.0, 0.3, 0.1], cos=[0.5, 0.9, 0.99], cos_q15=[0.4, 0.8, 0.98], cos_q85=[0.6, 0.95, 0.995])
    return dict(exact_grad={'layer-0': [0.1, 0.2]}, estimators={'reinforce': dict(curves={'layer-0': curves})}, samples=100, seed=0)


def test_plot_report_saves_to_a_file_object_and_a_suffixless_path(tmp_path):
    buf = io.BytesIO()
    plot_report(_report(), buf)   # was: TypeError from the atomic write
    assert buf.getvalue().startswith(b'\x89PNG')
    plot_report(_report(), tmp_path / 'fig')   # was: matplotlib's "Format '' is not supported"
    assert (tmp_path / 'fig.png').read_bytes().startswith(b'\x89PNG') and not (tmp_path / 'fig').exists()


def test_save_figure_leaves_no_half_written_file(tmp_path):
    from matplotlib.figure import Figure
    fig = Figure(); fig.subplots().plot([0, 1])
    target = tmp_path / 'curves.png'; target.write_bytes(b'old')
    class Boom(Exception): pass
    def fail(*a, **k): raise Boom
    fig.savefig = fail
    try: cli.save_figure(fig, target)
    except Boom: pass
    assert target.read_bytes() == b'old' and sorted(p.name for p in tmp_path.iterdir()) == ['curves.png']


def test_save_figure_names_fname_and_format(tmp_path, monkeypatch):
    import pytest
    from matplotlib.figure import Figure
    fig = Figure(); fig.subplots().plot([0, 1])
    with pytest.raises(ValueError, match='fname: no folder'): cli.save_figure(fig, tmp_path / 'nodir' / 'g.png')   # was: FileNotFoundError naming the temp file
    with pytest.raises(ValueError, match='fname: a path or a file object'): cli.save_figure(fig, 123)   # was: AttributeError
    with pytest.raises(ValueError, match="format 'pdf' contradicts"): cli.save_figure(fig, tmp_path / 'i.png', format='pdf')   # was: TypeError
    assert cli.save_figure(fig, tmp_path / 'i', format='pdf') == tmp_path / 'i.pdf'
    monkeypatch.setenv('HOME', str(tmp_path))
    assert cli.save_figure(fig, '~/h.png') == tmp_path / 'h.png' and (tmp_path / 'h.png').is_file()   # was: FileNotFoundError '~/...'


def test_import_binary_names_a_wrong_export():
    import pytest, torch
    from sbn_estimators.layers import import_binary
    for bad in (None, [], 'x', {1: 2}):
        with pytest.raises(ValueError, match='exported: what export_binary returned'): import_binary(torch.nn.Linear(2, 2), bad)   # was: AttributeError


def test_estimator_error_quotes_the_spec_and_the_keywords_as_given():
    import pytest, sbn_estimators as S
    with pytest.raises(ValueError, match=r"^estimator 'reste:o=3' with t=-1: "): S.estimator('reste:o=3', t=-1)   # was: 'reste' with o=3, t=-1
    with pytest.raises(ValueError, match=r"^estimator 'reste' with o='3': "): S.estimator('reste', o='3')   # was: o=3 (unquoted)


def test_comparison_table_keeps_significant_zeros():
    from sbn_estimators.lr_search import _seconds
    assert _seconds([0.04, 0.04]) == '0.040 ± 0' and _seconds([1., 2., 6.]) == '3.0 ± 3'   # was: 0.04 ± 0, 3 ± 3


def test_library_module_imported_after_a_page_defined_its_code(tmp_path):
    "A page's cell registers the library's own code first (`__main__`), then imports the module that exports it: the module's definition is the same, so it is accepted, as at 25dc815 (page 15 failed on this)."
    import os, subprocess, sys, inspect
    from pathlib import Path
    import sbn_estimators.binaryduo as bd
    src = inspect.getsource(bd.decouple)
    root = Path(__file__).resolve().parents[1]
    script = ("import torch\nfrom torch import nn\nfrom sbn_estimators.models import register_transform\n" + src + "register_transform('decouple')(decouple)\n"
              "import sbn_estimators.binaryduo\nfrom sbn_estimators.models import MODEL_TRANSFORMS\nprint(MODEL_TRANSFORMS['decouple'].__module__)\n")
    r = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(root), 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-800:]


def test_an_edited_plugin_file_drops_what_it_registered_with_code_defined_elsewhere(tmp_path, registries):
    "A file that registers a library function under a name of its own: its edited text's run drops that name, and may give it another function (was: kept, and refused)."
    import pytest, sbn_estimators as S
    from sbn_estimators.models import MODEL_TRANSFORMS
    f = tmp_path / 'zz_t.py'
    head = "from sbn_estimators.models import register_transform, MODEL_TRANSFORMS\n"
    f.write_text(head + "register_transform('zz_t1')(MODEL_TRANSFORMS['decouple'])\nregister_transform('zz_t2')(MODEL_TRANSFORMS['decouple'])\n")
    S.load_plugins(str(f))
    assert MODEL_TRANSFORMS['zz_t1'] is MODEL_TRANSFORMS['decouple'] is MODEL_TRANSFORMS['zz_t2']
    f.write_text(head + "register_transform('zz_t2')(MODEL_TRANSFORMS['biper_binarize'])\n")   # zz_t1 gone, zz_t2 another function
    S.load_plugins(str(f))
    assert 'zz_t1' not in MODEL_TRANSFORMS and MODEL_TRANSFORMS['zz_t2'] is MODEL_TRANSFORMS['biper_binarize']
    assert 'decouple' in MODEL_TRANSFORMS and 'biper_binarize' in MODEL_TRANSFORMS   # the library's own names stay


def test_bop_says_why_a_requires_grad_tensor_is_refused():
    import pytest, torch
    from sbn_estimators.binary_optimizers import Bop
    w = torch.nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\], got .*requires grad is not a hyper-parameter"):   # was: no reason given
        Bop([w], gamma=torch.tensor(1e-3, requires_grad=True))
