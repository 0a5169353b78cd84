"""Review s59 (G): accessibility of the docs. The catalogue's cards have real header rows (the first formula was the
table's header) and metric names as code; their plots label the unit's true curves (dashed, darker grey); the site has a
skip link, a `<main id="content">`, sidebar group names that are labels (not `<h2>` before the page's `<h1>`), the
current page marked, and a search box that screen readers can follow (combobox, listbox, live count); page 00a has an
`##` section before its first entry (an `<h3>`)."""
import base64, json, re, shutil, subprocess, sys, tempfile, threading
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_NODE = shutil.which('node') is None or (shutil.which('npm') is None and not (ROOT/'tools'/'node_modules'/'katex').is_dir())
needs_node = pytest.mark.skipif(NO_NODE, reason='Node.js with npm is needed to build the docs (KaTeX); install Node.js')


# ---------------------------------------------------------------- the catalogue's cards
def test_card_tables_have_header_rows():
    "The first row of a card's table is `| property | value |`, so `forward` is a data row; the accuracy table's corner says `metric`."
    from sbn_estimators.catalogue import estimator_card, load_results
    card = estimator_card('st', load_results(ROOT/'nbs'/'data'))
    lines = card.splitlines()
    i = lines.index('| property | value |')
    assert lines[i + 1] == '|---|---|' and lines[i + 2].startswith('| forward | $'), lines[i:i + 3]
    acc = next(l for l in lines if l.startswith('| metric | '))
    assert acc.startswith('| metric | layer-0 |'), acc
    for m in ('rel_rmse_1', 'rel_bias', 'cos_1'): assert any(l.startswith(f'| `{m}` | ') for l in lines), m
    assert '\\text{rel' not in card and '| | ' not in card
    psa = estimator_card('psa').splitlines()
    assert psa[psa.index('| property | value |') + 2].startswith('| estimate | $'), psa


def test_card_plot_labels_the_true_curves():
    "The unit's true 2F-1 and 2F' are dashed, grey 0.45 (not the faint 0.75), in a legend; the alt text says what the dashes are."
    from sbn_estimators.catalogue import estimator_card, forward_backward_svg
    svg = forward_backward_svg('st')
    assert 'true 2F−1' in svg and 'true 2F′' in svg   # the legend's labels (svg.fonttype none: text)
    assert '#737373' in svg and '#bfbfbf' not in svg, re.findall(r'stroke: ?#[0-9a-f]{6}', svg)
    assert re.search(r'stroke-dasharray: ?[\d.]+,[\d.]+; ?stroke-dashoffset: ?0; ?stroke: ?#737373', svg), 'dashed grey'
    card = estimator_card('st')
    alt = re.search(r'<img class="estimator-plot" alt="([^"]*)"', card)[1]
    assert alt == "forward and backward of st; dashed: the unit's true mean and slope", alt


# ---------------------------------------------------------------- page 00a's headings
def test_stats_page_has_a_section_before_its_first_entry():
    "nbdev shows each exported public name as an `###`: an `##` must come before the first, right after the `#` title."
    cells = json.loads((ROOT/'nbs'/'00a_stats.ipynb').read_text(encoding='utf-8'))['cells']
    first_entry = next(i for i, c in enumerate(cells) if c['cell_type'] == 'code'
                       and re.match(r'#\|\s*export\s*\n(?:.*\n)*?(?:def|class) [A-Za-z]', ''.join(c['source'])))
    heads = [(i, m[1]) for i, c in enumerate(cells[:first_entry]) if c['cell_type'] == 'markdown'
             for m in re.finditer(r'^(#+) ', ''.join(c['source']), re.M)]
    assert [h for _, h in heads][:2] == ['#', '##'], heads


# ---------------------------------------------------------------- the site
def _site(tmp):
    "A small site: two pages in two sidebar groups (Core, Tutorials)."
    nbs = Path(tmp)/'nbs'; nbs.mkdir()
    md = lambda i, s: {'cell_type': 'markdown', 'id': f'c{i}', 'metadata': {}, 'source': s}
    for name, title in (('core_a', 'Alpha core'), ('tutorial_b', 'Beta tutorial')):
        nb = {'cells': [md(1, f'# {title}\n> a page'), md(2, '## Estimators\n\nSome estimator text.')],
              'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
              'nbformat': 4, 'nbformat_minor': 5}
        (nbs/f'{name}.ipynb').write_text(json.dumps(nb), encoding='utf-8')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(nbs), '--out', str(Path(tmp)/'site'),
                        '--workers', '1'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return Path(tmp)/'site'


@pytest.fixture(scope='module')
def site():
    if NO_NODE: pytest.skip('Node.js with npm is needed to build the docs (KaTeX); install Node.js')
    with tempfile.TemporaryDirectory() as tmp: yield _site(tmp)


def test_page_landmarks_and_sidebar(site):
    "A skip link to `<main id=content>`; the sidebar is a labelled nav whose group names are not headings; the current page is marked."
    page = (site/'core_a.html').read_text(encoding='utf-8')
    body = page[page.index('<body'):]
    assert re.match(r'<body[^>]*>\s*<a class="skip" href="#content">Skip to content</a>', body), body[:200]
    assert page.count('id="content"') == 1 and re.search(r'<main id="content"[^>]*>', page)
    assert re.search(r'<h[1-6]\b', body)[0] == '<h1', 'a heading before the page title'
    nav = re.search(r'<nav class="sidebar" aria-label="Pages">(.*?)</nav>', page, re.S)
    assert nav, 'the sidebar nav has no label'
    nav = nav[1]
    groups = re.findall(r'<p class="group" id="([\w-]+)">([^<]+)</p><ul aria-labelledby="([\w-]+)">', nav)
    assert [g for _, g, _ in groups] == ['Core', 'Tutorials'] and all(a == b for a, _, b in groups), groups
    assert re.findall(r'<a href="([^"]*)" aria-current="page"', nav) == ['core_a.html'] and nav.count('aria-current') == 1, nav
    home = (site/'tutorial_b.html').read_text(encoding='utf-8')
    assert re.search(r'<a href="core_a.html" title', home) and re.search(r'<a href="tutorial_b.html" aria-current="page"', home)


def test_search_box_markup(site):
    "The search box is a combobox (collapsed at first) of a listbox of hits, with a polite live region for their count."
    page = (site/'core_a.html').read_text(encoding='utf-8')
    box = re.search(r'<input id="search"[^>]*>', page)[0]
    for attr in ('role="combobox"', 'aria-expanded="false"', 'aria-controls="search-results"', 'aria-autocomplete="list"'):
        assert attr in box, (attr, box)
    assert re.search(r'<ol id="search-results" role="listbox"[^>]*hidden>', page)
    assert re.search(r'<[a-z]+ id="search-status"[^>]*aria-live="polite"', page)


SEARCH = r'''(async () => {
  const box = document.getElementById('search'), key = k => box.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true}));
  box.focus(); box.value = 'estimator'; box.dispatchEvent(new Event('input'));
  for (let t = 0; t < 300 && !window.SEARCH_INDEX; t++) await new Promise(r => setTimeout(r, 50));
  await new Promise(r => setTimeout(r, 100));
  const opts = [...document.querySelectorAll('#search-results [role=option]')];
  const state = () => ({expanded: box.getAttribute('aria-expanded'), active: box.getAttribute('aria-activedescendant'),
                        selected: opts.filter(o => o.getAttribute('aria-selected') === 'true').map(o => o.id)});
  const res = {ids: opts.map(o => o.id), hrefs: opts.map(o => o.getAttribute('href')),
               status: document.getElementById('search-status').textContent, open: state()};
  key('ArrowDown'); res.down = state(); key('ArrowDown'); res.down2 = state();
  key('Escape'); res.closed = state(); res.hidden = document.getElementById('search-results').hidden;
  box.value = 'zzzqqq'; box.dispatchEvent(new Event('input')); await new Promise(r => setTimeout(r, 50));
  res.none = document.getElementById('search-status').textContent;
  return res;
})()'''


@pytest.mark.skipif(shutil.which('chromium') is None, reason='Debian chromium is not installed')
def test_search_tells_screen_readers(site):
    "In a browser: the hits are options with ids, the selection is the box's active descendant, the count is announced."
    from test_docs import Browser, QuietHandler
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser()
    try: r = browser.run(f'http://127.0.0.1:{server.server_address[1]}/core_a.html', SEARCH)[0]
    finally: browser.close(); server.shutdown()
    assert r is not None
    n = len(r['ids'])
    assert n >= 2 and r['ids'] == [f'search-hit-{i}' for i in range(n)], r
    assert r['status'] == f'{n} results' and r['open'] == {'expanded': 'true', 'active': None, 'selected': []}, r
    assert r['down'] == {'expanded': 'true', 'active': 'search-hit-0', 'selected': ['search-hit-0']}, r
    assert r['down2'] == {'expanded': 'true', 'active': 'search-hit-1', 'selected': ['search-hit-1']}, r
    assert r['closed']['expanded'] == 'false' and r['closed']['active'] is None and r['hidden'], r
    assert r['none'] == 'No results', r
