"""Review s51, fix I: plot_mismatch names its marks (bars, dots, dashes) in one figure-level legend below the panels;
the gradient-accuracy figure of 16_gumbel_family is drawn from the saved table."""
import json
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import torch
from pathlib import Path
from torch import nn
from sbn_estimators.layers import BinaryActivation
from sbn_estimators.mismatch import mismatch, plot_mismatch, proxy_estimator

NBS = Path(__file__).resolve().parent.parent / 'nbs'


def test_plot_mismatch_has_a_legend_of_its_three_marks():
    "Old: no legend; which mark was the raw cosine and which the noise ceiling was said only in the docstring."
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6, bias=False), nn.BatchNorm1d(6), BinaryActivation(proxy_estimator('clipped_st')), nn.Linear(6, 3))
    x, y = torch.randn(16, 8, generator=g), torch.randint(0, 3, (16,), generator=g)
    r = mismatch(net, x, y, proxies=['st'], rel_sigma=0.5, samples=8, chunk=8)
    fig = plot_mismatch({'a': r, 'b': r})
    try:
        assert len(fig.legends) == 1
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ['corrected cosine', 'raw cosine', 'noise ceiling']
        assert all(ax.get_legend() is None for ax in fig.axes)   # one legend for the figure, none over the panels
        fig.canvas.draw()   # the legend lies below every panel's tick labels: it covers no data
        r_ = fig.canvas.get_renderer()
        leg = fig.legends[0].get_window_extent(r_)
        assert all(leg.y1 <= ax.get_tightbbox(r_).y0 + 1 for ax in fig.axes)
    finally: plt.close(fig)


def test_gumbel_page_draws_the_saved_gradeval_table():
    "Old: 16_gumbel_family printed a 52-row table and had no figure."
    nb = json.loads((NBS / '16_gumbel_family.ipynb').read_text())
    code = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']
    fig_cells = [s for s in code if 'rel_std' in s and 'subplots' in s]
    assert len(fig_cells) == 1 and not fig_cells[0].startswith('#| slow')
