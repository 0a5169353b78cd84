"What the catalogue page (nbs/90_catalogue.ipynb) builds its cards from: the plotted mean slope, the derivation links, the rows of a card, and which stored report wins."
import configparser, json
import torch
from conftest import ROOT
from sbn_estimators.catalogue import forward_backward, derivation_page, estimator_card, load_results


def test_mean_slope_is_the_derivative_of_the_mean_output():
    "With common draws (the same seed) the mean slope of a pathwise estimator (Concrete) is the derivative of its mean output."
    a, h = torch.tensor([-1., 0., 0.5, 2.], dtype=torch.float64), 1e-4
    _, s = forward_backward('concrete', a, samples=20_000)
    mp, _ = forward_backward('concrete', a + h, samples=20_000); mm, _ = forward_backward('concrete', a - h, samples=20_000)
    assert (s - (mp - mm) / (2 * h)).abs().max() < 1e-6

def test_derivation_links_keep_the_site_path():
    c = configparser.ConfigParser(); c.read(ROOT / 'settings.ini'); s = c['DEFAULT']
    assert derivation_page('dst') == s['doc_host'] + s['doc_baseurl'] + '/straight_through.html#st'

def test_card_rows():
    for n, first in (('st', 'forward'), ('psa', 'estimate')):
        rows = [l.split('|')[1].strip() for l in estimator_card(n).splitlines() if l.startswith('| ')]
        want = ['property', first] + (['backward'] if first == 'forward' else []) + ['kind', 'cost', 'unbiased', 'parameters', 'papers', 'derivation']
        assert [r for r in rows if r != '---'] == want, (n, rows)

def test_a_later_report_wins(tmp_path):
    for f, secs in (('gradeval_chk100_a.json', 1.0), ('gradeval_chk100_b.json', 2.0)):
        (tmp_path / f).write_text(json.dumps({'samples': 10, 'estimators': {'st': {'seconds': secs, 'groups': []}}}))
    r = load_results(tmp_path)
    assert r['st']['file'] == 'gradeval_chk100_b.json' and r['st']['seconds'] == 2.0


def test_check_catalogue_needs_the_unbiased_field():
    import pytest
    from sbn_estimators.catalogue import CATALOGUE, check_catalogue
    psa = {k: v for k, v in CATALOGUE['psa'].items() if k != 'unbiased'}
    with pytest.raises(ValueError, match="psa: entry lacks 'unbiased'"): check_catalogue({**CATALOGUE, 'psa': psa})


def test_check_catalogue_needs_a_local_estimators_backward():
    import pytest
    from sbn_estimators.catalogue import CATALOGUE, check_catalogue
    st = {k: v for k, v in CATALOGUE['st'].items() if k != 'backward'}
    with pytest.raises(ValueError, match="st: local estimator, entry lacks 'backward'"): check_catalogue({**CATALOGUE, 'st': st})


def test_forward_backward_refuses_a_network_level_estimator():
    import pytest
    with pytest.raises(ValueError, match="'psa' is a network-level estimator: it has no activation to plot"):
        forward_backward('psa', torch.zeros(3, dtype=torch.float64))


def test_a_binary_weight_run_cites_the_weight_method():
    "fmnist_bnn_conv trains latent binary weights (BinaryConnect) scaled by mean |W| (XNOR-Net): its run's references.bib cites both."
    from sbn_estimators.catalogue import run_references
    assert {'courbariaux2015binaryconnect', 'rastegari2016xnor'} <= set(run_references('st', 'fmnist_bnn_conv', 'adam', 'fashion_mnist'))


def test_a_catalogue_entry_citing_an_unknown_paper_is_named(monkeypatch):
    "A plugin's entry may cite a key REFERENCES lacks: the error says whose entry it is."
    import pytest
    from sbn_estimators.catalogue import CATALOGUE, run_references
    monkeypatch.setitem(CATALOGUE, 'st', {**CATALOGUE['st'], 'refs': ('nobody',)})
    with pytest.raises(ValueError, match=r"CATALOGUE\['st'\] cites 'nobody', which REFERENCES lacks"): run_references('dst')


def test_forward_backward_and_load_results_refuse_bad_arguments(tmp_path):
    import pytest
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"samples must be a positive integer, got {bad!r}"): forward_backward('st', torch.zeros(3), samples=bad)
    with pytest.raises(ValueError, match="is not a folder of reports"): load_results(tmp_path / 'missing')
