"Session 54: every run's references.bib cites the library itself first (CITATION.cff asks for it), and an institution as author stays whole in BibTeX."
import re
import sbn_estimators
from sbn_estimators.catalogue import REFERENCES, bibtex
from sbn_estimators.train import TrainConfig, train


def test_runs_cite_the_library_at_its_version(tmp_path):
    train(TrainConfig(model='sbn_mlp:width=8', epochs=1, eval_samples=1, n_train=200, n_test=50, val=50), tmp_path / 'r', progress=False)
    bib = (tmp_path / 'r' / 'references.bib').read_text()
    assert re.findall(r'^@\w+\{(\w+),$', bib, re.M)[0] == 'sbn_estimators'
    assert f'Software, version {sbn_estimators.__version__}' in bib and 'https://github.com/sbn-estimators/sbn_estimators' in bib
    cff = (sbn_estimators.__file__.rsplit('/', 2)[0] + '/CITATION.cff')
    assert REFERENCES['sbn_estimators'][1] in open(cff).read()   # the title CITATION.cff gives


def test_an_institution_is_one_braced_author():
    assert 'author = {L. Geiger and {Plumerai Team}}' in bibtex(['geiger2020larq'])
    b = bibtex(['sbn_estimators'])   # LaTeX's specials escaped, except in links
    assert 'author = {{sbn\\_estimators developers}}' in b and 'title = {{sbn\\_estimators: ' in b and 'url = {https://github.com/sbn-estimators/sbn_estimators}' in b
