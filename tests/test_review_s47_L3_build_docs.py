"""Review s47 (L3): `tools/build_docs.py --nbs DIR` with a notebook folder outside the repository links the package's
names as the repository's pages do: nbdev finds no settings.ini from there, and the tool falls back on the project's
(the current folder's, else the tool's own repository's) instead of silently dropping the doc links."""
import json, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_NODE = shutil.which('node') is None or (shutil.which('npm') is None and not (ROOT/'tools'/'node_modules'/'katex').is_dir())
needs_node = pytest.mark.skipif(NO_NODE, reason='Node.js with npm is needed to build the docs (KaTeX); install Node.js')


def _build(tmp_path, cwd):
    nbs = tmp_path/'nbs'; nbs.mkdir()
    md = lambda i, s: {'cell_type': 'markdown', 'id': f'c{i}', 'metadata': {}, 'source': s}
    nb = {'cells': [md(1, '# Links\n> a page outside the repository'), md(2, 'See `estimator_card` and `list_estimators`.')],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    (nbs/'links.ipynb').write_text(json.dumps(nb), encoding='utf-8')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(nbs), '--out', str(tmp_path/'site'),
                        '--workers', '1'], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return (tmp_path/'site'/'links.html').read_text(encoding='utf-8')


@needs_node
@pytest.mark.parametrize('where', ['repository', 'outside'])
def test_outside_notebooks_keep_their_doc_links(tmp_path, where):
    "Bare names of the package link to their entries, whether the tool runs from the repository or from elsewhere."
    page = _build(tmp_path, ROOT if where == 'repository' else tmp_path)
    assert '<a href="catalogue.html#estimator_card"><code>estimator_card</code></a>' in page, page[-3000:]
    assert '<a href="estimators.html#list_estimators"><code>list_estimators</code></a>' in page, page[-3000:]


def test_no_settings_anywhere_is_refused(tmp_path):
    "No settings.ini from the current folder up nor in the given project: one line, exit 2."
    code = (f'import sys; sys.path.insert(0, {str(ROOT/"tools")!r}); import build_docs; '
            f'build_docs.use_project_config({str(tmp_path)!r})')
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'settings.ini' in r.stderr and str(tmp_path) in r.stderr, r.stderr
