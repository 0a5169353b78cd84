"Review s51 (fixF): the cos data cites the PSA paper; REFERENCES holds every paper the pages cite (ResNet, Nesterov & Spokoiny, local expectation gradients, MacKay, larq); BNN's link is its NeurIPS record; cards name two authors 'A & B'; pages 16, 18, 19, 20 end with their references."
import json, re
import pytest
from conftest import ROOT
from test_page_refs import page_of
from sbn_estimators.catalogue import CATALOGUE, MODEL_REFS, OPTIMIZER_REFS, REFERENCES, bibtex, estimator_card, run_references, references_markdown
from sbn_estimators.estimators import ESTIMATORS, list_estimators


def test_cos_data_cites_the_psa_paper():
    assert run_references('reinforce', 'sbn_mlp', 'sgd', 'cos') == ['williams1992', 'mnih2014nvil', 'kool2019loorf', 'shekhovtsov2020psa']
    assert run_references('st', data='cos') == list(CATALOGUE['st']['refs'])   # st cites the PSA paper already: once


NEW = {'he2016resnet': 'https://arxiv.org/abs/1512.03385', 'nesterov2017gradientfree': 'https://doi.org/10.1007/s10208-015-9296-2',
       'titsias2015localexpectation': 'https://arxiv.org/abs/1503.01494', 'mackay1992evidence': 'https://doi.org/10.1162/neco.1992.4.5.720',
       'geiger2020larq': 'https://doi.org/10.21105/joss.01746'}


@pytest.mark.parametrize('key', sorted(NEW))
def test_references_hold_the_papers_the_pages_cite(key):
    assert REFERENCES[key][3] == NEW[key]
    assert f'<a id="ref-{key}"></a>' in references_markdown()


def test_resnets_cite_he_et_al_and_the_journals_convert():
    for m in ('resnet20', 'resnet18', 'duo_resnet18'): assert 'he2016resnet' in MODEL_REFS[m], m
    assert run_references('reste:o=3', 'resnet18', 'adam', 'mnist') == ['wu2023reste', 'he2016resnet', 'kingma2015adam', 'lecun1998mnist']
    b = bibtex(['nesterov2017gradientfree', 'geiger2020larq', 'mackay1992evidence'])
    assert re.findall(r'^@(\w+)\{', b, re.M) == ['article'] * 3
    assert 'journal = {Foundations of Computational Mathematics}' in b and 'volume = {17}' in b and 'number = {2}' in b
    assert 'journal = {Journal of Open Source Software}' in b and 'author = {L. Geiger and {Plumerai Team}}' in b
    assert 'journal = {Neural Computation}' in b and 'number = {5}' in b


def test_bnn_links_its_neurips_record_not_the_arxiv_preprint():
    authors, title, venue, link, _ = REFERENCES['hubara2016bnn']
    assert (authors.split(', ')[0], title, venue) == ('I. Hubara', 'Binarized Neural Networks', 'NeurIPS 2016')
    assert '1602.02830' not in link and link.startswith('https://proceedings.neurips.cc/paper/2016/')


def test_cards_name_two_authors_with_an_ampersand():
    st = estimator_card('st', references_page='99_references.ipynb')   # the catalogue page's links (default: the docs' URL)
    assert '[Shekhovtsov & Yanush, GCPR 2021](99_references.ipynb#ref-shekhovtsov2021st)' in st
    assert '[Shekhovtsov et al., NeurIPS 2020](99_references.ipynb#ref-shekhovtsov2020psa)' in st   # three authors
    assert '[Titsias & Shi, AISTATS 2022]' in estimator_card('double_cv') and '[Yin & Zhou, ICLR 2019]' in estimator_card('arm')
    assert '[Kunes et al., arXiv 2022]' in estimator_card('ugc')   # 'R. Z. Kunes, M. Yin, M. Land et al.'
    assert '[Williams, Machine Learning 8, 1992]' in estimator_card('reinforce')
    for n in CATALOGUE:   # every paper of every card: 'et al.' exactly where the paper has three or more authors
        for label, k in re.findall(r'\[([^\],]+), [^\]]+\]\(99_references\.ipynb#ref-(\w+)\)', estimator_card(n, references_page='99_references.ipynb')):
            names = REFERENCES[k][0].split(', ')
            assert label.endswith(' et al.') == (len(names) > 2 or names[-1].endswith(' et al.')), (n, k, label)
            assert (' & ' in label) == (len(names) == 2 and not names[-1].endswith(' et al.')), (n, k, label)


def test_cite_authors_keeps_particles():
    from sbn_estimators.catalogue import _cite_authors
    assert _cite_authors('W. Kool, H. van Hoof') == 'Kool & van Hoof'
    assert _cite_authors('L. Geiger, Plumerai Team') == 'Geiger & Plumerai Team'
    assert _cite_authors('W. Kool, H. van Hoof, M. Welling') == 'Kool et al.' and _cite_authors('A. B, C. D et al.') == 'B et al.'


def _markdown(page):
    return [''.join(c['source']) for c in json.loads((ROOT/'nbs'/page).read_text())['cells'] if c['cell_type'] == 'markdown']


@pytest.mark.parametrize('page', ['16_gumbel_family.ipynb', '18_control_variates.ipynb', '19_ede.ipynb', '20_binary_optimizers.ipynb'])
def test_derivation_pages_end_with_their_references(page):
    "99_references says the derivation pages cite the papers at their end: these four had no such section."
    cells = json.loads((ROOT/'nbs'/page).read_text())['cells']
    last = ''.join(cells[-1]['source'])
    assert cells[-1]['cell_type'] == 'markdown' and last.startswith('## References\n'), page
    assert '](99_references.ipynb)' in last
    list_estimators()
    keys = {k for n, e in CATALOGUE.items() if page_of(ESTIMATORS[n]).name == page for k in e['refs']}
    if page.startswith('20_'): keys = {k for o in ('bop', 'bayesbinn', 'mirror_descent') for k in OPTIMIZER_REFS[o]}
    assert keys, page
    missing = [k for k in sorted(keys) if f']({REFERENCES[k][3]})' not in last]
    assert not missing, f'{page} does not list {missing} in its References'
