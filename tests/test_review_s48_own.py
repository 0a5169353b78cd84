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
