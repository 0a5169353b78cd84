"""Review s53: every figure in the docs has alt text written for it. A cell's `#| fig-alt:` option becomes the `alt` of
each figure it shows (numbered when it shows several); a figure without one is a build warning. The option changes
nothing that runs, so it does not make a page stale."""
import base64, json, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs, run_pages

NO_NODE = shutil.which('node') is None or (shutil.which('npm') is None and not (ROOT/'tools'/'node_modules'/'katex').is_dir())
needs_node = pytest.mark.skipif(NO_NODE, reason='Node.js with npm is needed to build the docs (KaTeX); install Node.js')
# a 1x1 PNG
PNG = base64.b64encode(bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000'
                                     '1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082')).decode()


def _figure_cells(nb):
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] == 'code' and any(set(o.get('data', {})) & {'image/png', 'image/svg+xml', 'image/jpeg'}
                                            for o in c.get('outputs', [])):
            yield i, ''.join(c['source'])


def test_every_figure_in_the_notebooks_has_alt_text():
    "Each code cell that shows a figure says what it shows, in a real sentence, at the top of the cell."
    missing, short = [], []
    for path in sorted((ROOT/'nbs').glob('*.ipynb')):
        for i, s in _figure_cells(json.loads(path.read_text(encoding='utf-8'))):
            opts, _ = build_docs.cell_options('\n'.join(l for l in s.splitlines() if not re.match(r'#\|\s*(slow|cuda)\s*$', l)))
            alt = opts.get('fig-alt', '')
            if not alt: missing.append(f'{path.name} cell {i}')
            elif len(alt) < 60: short.append(f'{path.name} cell {i}: {alt!r}')
    assert not missing and not short, f'figures without alt text: {missing}; too short: {short}'


def test_figure_alt_numbers_the_figures_of_one_cell():
    assert build_docs.figure_alt({'fig-alt': 'Loss curves'}, 0, 1) == 'Loss curves'
    assert build_docs.figure_alt({'fig-alt': 'Loss curves'}, 1, 3) == 'Loss curves (2 of 3)'
    assert build_docs.figure_alt({}, 0, 1) is None


def test_alt_text_does_not_make_a_page_stale(tmp_path):
    "Adding a `#| fig-alt:` line keeps the page's digest; a change to its code does not."
    code = lambda s: {'cell_type': 'code', 'execution_count': None, 'id': 'a', 'metadata': {}, 'outputs': [], 'source': s}
    nb = lambda s: {'cells': [code(s)], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    digests = []
    for i, s in enumerate(['plt.plot([1, 2])', '#| fig-alt: A rising line\nplt.plot([1, 2])', 'plt.plot([2, 1])']):
        (tmp_path/f'p{i}.ipynb').write_text(json.dumps(nb(s)))
        digests.append(run_pages.digest(tmp_path/f'p{i}.ipynb'))
    assert digests[0] == digests[1] != digests[2]


@needs_node
def test_the_built_page_carries_the_alt_text_and_warns_without_it(tmp_path):
    nbs = tmp_path/'nbs'; nbs.mkdir()
    fig = {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': PNG, 'text/plain': '<Figure size 10x10 with 1 Axes>'}}
    code = lambda i, s, n: {'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [fig] * n, 'source': s}
    nb = {'cells': [{'cell_type': 'markdown', 'id': 'c0', 'metadata': {}, 'source': '# Figures\n> alt text'},
                    code(1, '#| fig-alt: Two dots, one per "panel" & <label>\nx = 1', 2),
                    code(2, '#| slow\n#| fig-alt: One dot on a white square\nx = 2', 1),
                    code(3, 'x = 3', 1)],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    (nbs/'figs.ipynb').write_text(json.dumps(nb), encoding='utf-8')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(nbs), '--out', str(tmp_path/'site'),
                        '--workers', '1'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    page = (tmp_path/'site'/'figs.html').read_text(encoding='utf-8')
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', page)
    assert alts == ['Two dots, one per &quot;panel&quot; &amp; &lt;label&gt; (1 of 2)',
                    'Two dots, one per &quot;panel&quot; &amp; &lt;label&gt; (2 of 2)',
                    'One dot on a white square', 'Figures: figure 4'], alts
    assert 'fig-alt' not in page
    assert re.search(r'figs\.ipynb: figure 4 has no `#\| fig-alt:` text', r.stderr), r.stderr[-2000:]
    assert len(re.findall('fig-alt', r.stderr)) == 1, r.stderr[-2000:]


def test_a_fig_alt_line_inside_the_code_is_code(tmp_path):
    "Only the leading option block's `#| fig-alt:` is left out of the digest: the same text further down (here in a string) is code."
    code = lambda s: {'cell_type': 'code', 'execution_count': None, 'id': 'a', 'metadata': {}, 'outputs': [], 'source': s}
    nb = lambda s: {'cells': [code(s)], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    digests = []
    for i, v in enumerate(['0.5', '0.9']):
        (tmp_path/f'p{i}.ipynb').write_text(json.dumps(nb(f's = """\n#| fig-alt: threshold {v}\n"""\nprint(s)')))
        digests.append(run_pages.digest(tmp_path/f'p{i}.ipynb'))
    assert digests[0] != digests[1]
