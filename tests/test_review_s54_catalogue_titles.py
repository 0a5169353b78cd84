"Review s54 (packaging): an installed library names the derivation pages as the docs do (`PAGE_TITLES`, no notebook read at run time), and a card's papers link the docs' References page unless told otherwise."
import json, os, re, shutil, subprocess, sys
from pathlib import Path
from nbdev.doclinks import _nbpath2html
from sbn_estimators._modidx import d
from sbn_estimators.catalogue import derivation_label, estimator_card

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'


def notebook_titles() -> dict:
    "module -> the first `# Title` of its notebook, up to a ': ' (what the docs show)."
    res = {}
    for nb in sorted(NBS.rglob('*.ipynb')):
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        exp = [m for c in cells if c['cell_type'] == 'code' for m in re.findall(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)]
        if not exp: continue
        md = [''.join(c['source']) for c in cells if c['cell_type'] == 'markdown']
        t = next((l[2:].strip() for c in md for l in c.splitlines() if l.startswith('# ')), None)
        assert t, f'{nb.name} has no # title'
        res[exp[0]] = t.split(': ')[0]
    return res


def test_page_titles_are_the_notebooks_titles():
    from sbn_estimators.catalogue import PAGE_TITLES
    titles = notebook_titles()
    assert PAGE_TITLES == titles   # a page renamed (or added) without PAGE_TITLES in nbs/90_catalogue.ipynb fails here
    assert set(titles) == {m.removeprefix('sbn_estimators.') for m in d['syms']}


LABELS = {'adf': 'ADF and local reparameterisation: Adf', 'approx_sign': 'The straight-through family: ApproxSign',
          'psa': 'PSA and DST: PSA', 'mean_field': 'Estimators: MeanField'}


def test_labels_without_the_notebooks(tmp_path):
    "The package copied alone (as a wheel installs it: no nbs/ beside it) gives the same labels and card titles as the checkout."
    shutil.copytree(ROOT / 'sbn_estimators', tmp_path / 'sbn_estimators', ignore=shutil.ignore_patterns('__pycache__'))
    code = ("import json, sbn_estimators; from sbn_estimators.catalogue import derivation_label, estimator_card\n"
            f"names = {sorted(LABELS)!r}\n"
            "print(json.dumps({'file': sbn_estimators.__file__, 'labels': {n: derivation_label(n) for n in names},"
            " 'rows': {n: [l for l in estimator_card(n).splitlines() if l.startswith('| derivation |')] for n in names}}))")
    env = {**os.environ, 'PYTHONPATH': str(tmp_path), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(out['file']).resolve().is_relative_to(tmp_path.resolve()), out['file']   # the copy, not the checkout
    assert not (tmp_path / 'nbs').exists()
    assert out['labels'] == LABELS, out['labels']
    assert out['labels'] == {n: derivation_label(n) for n in LABELS}   # the checkout says the same
    for n in LABELS: assert out['rows'][n] == [l for l in estimator_card(n).splitlines() if l.startswith('| derivation |')]


def test_card_links_the_docs_references_page_by_default():
    s = d['settings']
    url = f"{s['doc_host'].rstrip('/')}{s['doc_baseurl'].rstrip('/')}/{_nbpath2html(Path('99_references.ipynb')).name}"
    assert url == 'https://sbn-estimators.github.io/sbn_estimators/references.html'
    card = estimator_card('st')
    assert f'({url}#ref-shekhovtsov2021st)' in card and '99_references.ipynb' not in card, card
    assert 'https://sbn-estimators.github.io/sbn_estimators/straight_through.html#st' in card   # as the derivation link
    local = estimator_card('st', references_page='99_references.ipynb')   # the catalogue page's own links (the docs make them relative)
    assert '(99_references.ipynb#ref-shekhovtsov2021st)' in local and f'{url}#' not in local


def test_the_catalogue_page_renders_notebook_links():
    "The docs' catalogue cards link 99_references.ipynb (build_docs turns it into references.html)."
    nb = json.loads((NBS / '90_catalogue.ipynb').read_text(encoding='utf-8'))
    render = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code' and 'estimator_card(n, _results' in ''.join(c['source'])]
    assert len(render) == 1 and "references_page='99_references.ipynb'" in render[0], render
