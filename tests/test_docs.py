"""The docs site in a real browser, and the build's math and markdown handling.

Builds the site from `nbs/` into a temporary folder with `tools/build_docs.py`, serves it on 127.0.0.1 and opens
every page in headless Debian Chromium through the DevTools protocol. Each page must load with no request leaving
the machine, show no raw `$...$`/`$$...$$`, show its typeset math (MathML) and load every image; links between
pages must resolve. Failing pages are saved as screenshots under tests/_artifacts/. A control page with known
defects checks that the checks can fail.
"""
import base64, html, json, re, shutil, subprocess, sys, tempfile, threading, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT/'tests'/'_artifacts'
CHROMIUM = shutil.which('chromium')
# KaTeX renders the math at build time: node, and npm unless tools/node_modules holds it already
NO_NODE = shutil.which('node') is None or (shutil.which('npm') is None and not (ROOT/'tools'/'node_modules'/'katex').is_dir())
needs_node = pytest.mark.skipif(NO_NODE, reason='Node.js with npm is needed to build the docs (KaTeX); install Node.js')
sys.path.insert(0, str(ROOT/'tools'))
import build_docs

# Runs in the page after its load event: loads every image eagerly, waits for the fonts, and reports what a reader
# would see.
CHECK_JS = r'''(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => null); }));
  await document.fonts.ready;
  const search = document.getElementById('search');
  let hits = -1;
  if (search) {
    search.value = 'estimator'; search.dispatchEvent(new Event('input'));
    for (let t = 0; t < 300 && !window.SEARCH_INDEX; t++) await new Promise(r => setTimeout(r, 50));
    await new Promise(r => setTimeout(r, 50));
    hits = document.querySelectorAll('#search-results li a[href]').length;
  }
  // text a reader sees outside code and typeset math: no `$` and no TeX command may be left in it
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, .katex, script, style').forEach(e => e.remove());
  const text = body.innerText;
  const raw = [...(text.match(/\$+[^$\n]{0,30}/g) || []), ...(text.match(/\\(?:[A-Za-z]+|[{}_])/g) || [])];
  const main = document.querySelector('main'), right = main ? main.getBoundingClientRect().right + 1 : Infinity;
  const scrolls = e => { for (; e && e !== main; e = e.parentElement)
    if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) return true; return false; };
  const maths = [...document.querySelectorAll('main .katex')];
  const tex = m => (m.querySelector('annotation[encoding="application/x-tex"]') || {}).textContent || '';
  const bb = [...document.querySelectorAll('main .katex-html .mathbb')];
  // \mathbb applied to a letter (KaTeX has no double-struck digits: \mathbb 1 is a plain 1, which the build warns about)
  const BB = /\\mathbb\s*\{?\s*[A-Za-z]/, BB_ALL = /\\mathbb\s*\{?\s*[A-Za-z]/g;
  const face = fam => [...document.fonts].filter(f => f.family.replace(/"/g, '') === fam).map(f => f.status);
  return {
    broken_images: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 200)),
    images: imgs.length,
    raw_tex: raw.slice(0, 5),
    math: maths.length,
    math_not_typeset: maths.filter(m => !m.querySelector('.katex-html') || !m.querySelector('.katex-html').getBoundingClientRect().width)
                           .map(tex).slice(0, 5),
    math_errors: [...document.querySelectorAll('.katex-error')].map(e => e.textContent).slice(0, 5),
    math_overflow: maths.filter(m => m.getBoundingClientRect().right > right && !scrolls(m)).map(tex).slice(0, 5),
    // \mathbb in a formula's source must come out as letters in KaTeX's double-struck (AMS) font, loaded
    mathbb_source: maths.filter(m => BB.test(tex(m))).length,
    mathbb_missing: maths.filter(m => (tex(m).match(BB_ALL) || []).length > m.querySelectorAll('.katex-html .mathbb').length)
                         .map(tex).slice(0, 5),
    mathbb_wrong_font: bb.filter(e => !getComputedStyle(e).fontFamily.startsWith('KaTeX_AMS')).map(e => e.textContent).slice(0, 5),
    mathbb_font: bb.length ? face('KaTeX_AMS') : [],
    fonts_failed: [...document.fonts].filter(f => f.status === 'error').map(f => f.family),
    // a short formula and its punctuation (.nowrap) on two lines; a name in a table cell broken over lines; a
    // show_doc signature that needs sideways scrolling
    punct_split: [...document.querySelectorAll('.nowrap')].filter(n => {
      const k = n.querySelector('.katex-html'), t = n.lastChild;
      if (!k || !t || t.nodeType !== 3 || !k.getBoundingClientRect().width) return false;
      const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 1);
      return r.getBoundingClientRect().top > k.getBoundingClientRect().bottom - 2;
    }).map(n => n.textContent.slice(-40)).slice(0, 5),
    table_names_split: [...document.querySelectorAll('main td code, main th code')].filter(c => c.getClientRects().length > 1)
                         .map(c => c.textContent).slice(0, 5),
    signatures_scroll: [...document.querySelectorAll('main pre.signature')].filter(p => p.scrollWidth > p.clientWidth + 1)
                         .map(p => p.textContent.slice(0, 60)).slice(0, 5),
    sidebar_links: document.querySelectorAll('nav.sidebar a').length,
    sidebar_pages: [...document.querySelectorAll('nav.sidebar a')].map(a => a.getAttribute('href').split('/').pop()),
    search_hits: hits,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    duplicate_ids: [...new Set([...document.querySelectorAll('[id]')].map(e => e.id)
                     .filter((id, i, all) => all.indexOf(id) !== i))].slice(0, 5),
    // markdown link source a reader would see as text (nbdev writes doc links as [`name`](url))
    raw_links: (document.body.innerText.match(/\]\((?:https?:\/\/|[\w.\/-]+\.html)[^)\s]*\)/g) || []).slice(0, 5),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith(location.origin)),
    external_links: [...document.querySelectorAll('main a[href]')].map(a => a.href).filter(h => !h.startsWith(location.origin)),
  };
})()'''


class Browser:
    "Headless Chromium driven over its DevTools websocket (websocket-client); outside hosts do not resolve."
    def __init__(self):
        import websocket
        self.profile = tempfile.mkdtemp(prefix='chromium-')
        self.proc = subprocess.Popen(
            [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
             '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-extensions',
             f'--user-data-dir={self.profile}', '--remote-debugging-port=0', '--window-size=1400,1000',
             '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile)/'DevToolsActivePort'
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().split()) == 2: break
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        self.ws = websocket.create_connection(f'ws://127.0.0.1:{port}{path}', timeout=60, suppress_origin=True)
        self.n, self.events = 0, []

    def send(self, method, session=None, **params):
        self.n += 1
        self.ws.send(json.dumps({'id': self.n, 'method': method, 'params': params,
                                 **({'sessionId': session} if session else {})}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get('id') == self.n:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.events.append(m)

    def wait_for(self, method, session, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if any(e.get('method') == method and e.get('sessionId') == session for e in self.events): return True
            self.ws.settimeout(max(0.1, end - time.time()))
            self.events.append(json.loads(self.ws.recv()))
        return False

    def check(self, url, shot):
        "Open `url` in a fresh tab; the page's findings, its requests, and a screenshot at `shot` if it failed."
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        s = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        self.events = []
        for domain in ('Network', 'Page', 'Runtime'): self.send(f'{domain}.enable', s)
        self.send('Page.navigate', s, url=url)
        loaded = self.wait_for('Page.loadEventFired', s)
        res = self.send('Runtime.evaluate', s, expression=CHECK_JS, awaitPromise=True, returnByValue=True)
        found = res.get('result', {}).get('value') or {'js_failed': res.get('exceptionDetails', res)}
        ev = [e for e in self.events if e.get('sessionId') == s]
        reqs = [e['params']['request']['url'] for e in ev if e.get('method') == 'Network.requestWillBeSent']
        found['outside_requests'] = [u for u in reqs if urlsplit(u).scheme not in ('data', 'blob', 'about')
                                     and urlsplit(u).hostname != '127.0.0.1']
        found['failed_requests'] = [e['params'].get('errorText') for e in ev if e.get('method') == 'Network.loadingFailed']
        found['http_errors'] = [e['params']['response']['url'] for e in ev if e.get('method') == 'Network.responseReceived'
                                and e['params']['response']['status'] >= 400]
        found['js_exceptions'] = [e['params']['exceptionDetails'].get('text') for e in ev
                                  if e.get('method') == 'Runtime.exceptionThrown']
        found['loaded'] = loaded
        found['problems'] = problems(found)
        if found['problems']:
            shot.parent.mkdir(parents=True, exist_ok=True)
            img = self.send('Page.captureScreenshot', s, format='png', captureBeyondViewport=True)['data']
            shot.write_bytes(base64.b64decode(img))
        self.send('Target.closeTarget', targetId=target)
        return found

    def run(self, url, js, then=None, until=lambda v: True, wait=15.0):
        "Open `url` in a fresh tab, evaluate `js` (awaited), then `then` every 0.1 s until `until(value)` or `wait` seconds; their values."
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        s = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        self.events = []
        self.send('Page.enable', s)
        self.send('Page.navigate', s, url=url)
        self.wait_for('Page.loadEventFired', s)
        ev = lambda e: self.send('Runtime.evaluate', s, expression=e, awaitPromise=True, returnByValue=True).get('result', {}).get('value')
        try:
            res = [ev(js)]
            if then:
                end = time.monotonic() + wait
                while True:
                    time.sleep(0.1)
                    try: v = ev(then)
                    except RuntimeError: v = None   # evaluated while the page navigates
                    if until(v) or time.monotonic() > end: break
                res.append(v)
            return res
        finally: self.send('Target.closeTarget', targetId=target)

    def close(self):
        self.ws.close(); self.proc.terminate(); self.proc.wait(30)
        shutil.rmtree(self.profile, ignore_errors=True)


def problems(f):
    "What a reader would call broken on a page, from `Browser.check`'s findings."
    if 'js_failed' in f: return [f'check script failed: {f["js_failed"]}']
    keys = ['outside_requests', 'failed_requests', 'http_errors', 'js_exceptions', 'broken_images', 'raw_tex', 'math_errors',
            'math_not_typeset', 'math_overflow', 'mathbb_missing', 'mathbb_wrong_font', 'fonts_failed', 'duplicate_ids', 'raw_links',
            'punct_split', 'table_names_split', 'signatures_scroll']
    res = [f'{k}: {f[k]}' for k in keys if f[k]]
    if not f['loaded']: res.append('no load event')
    if f['mathbb_font'] and 'loaded' not in f['mathbb_font']: res.append(f'KaTeX_AMS font not loaded: {f["mathbb_font"]}')
    if f['search_hits'] <= 0: res.append('search found nothing for "estimator"' if f['search_hits'] == 0 else 'the page has no search box')
    return res


def nb_markdown(nb):
    "A notebook's markdown without code spans and fences, read from the source, not from the build."
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    md = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    return re.sub(r'```.*?```|`[^`\n]*`', '', md, flags=re.S)


def nb_has_math(nb):
    "Whether a notebook's markdown has LaTeX ($...$ or $$...$$)."
    return re.search(r'\$\$|\$[^\s$][^$\n]*?[^\s$\\]\$|\$[^\s$]\$', nb_markdown(nb)) is not None


@pytest.fixture(scope='module')
def served():
    if NO_NODE: pytest.skip('Node.js with npm is needed to build the docs (KaTeX); install Node.js')
    "Build the site into a temporary folder, serve it on 127.0.0.1, and start the browser."
    if CHROMIUM is None:
        pytest.skip('Debian chromium is not installed (apt-get update && apt-get install -y chromium chromium-driver)')
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)/'site'
        t0 = time.time()
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=900)
        print(r.stdout, r.stderr[-3000:], f'build: {time.time() - t0:.1f} s', sep='\n')
        assert r.returncode == 0, r.stderr[-3000:]
        server = ThreadingHTTPServer(('127.0.0.1', 0), partial(QuietHandler, directory=tmp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser = Browser()
        try: yield site, f'http://127.0.0.1:{server.server_address[1]}', browser
        finally:
            browser.close(); server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


def test_every_page_in_browser(served):
    site, base, browser = served
    from nbdev.doclinks import _nbpath2html, nbglob
    nbs = sorted(nbglob(ROOT/'nbs', as_path=True))
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html'))
    expected = {_nbpath2html(nb.relative_to(ROOT/'nbs')).as_posix(): nb for nb in nbs}
    assert set(expected) <= set(pages), f'notebooks without a page: {sorted(set(expected) - set(pages))}'
    found, failures = {}, {}
    for page in pages:
        f = found[page] = browser.check(f'{base}/site/{page}', ARTIFACTS/'docs'/page.replace('/', '-').replace('.html', '.png'))
        errs = list(f['problems'])
        if page in expected and nb_has_math(expected[page]) and not f.get('math'):
            errs.append('the notebook has LaTeX but the page shows no typeset math')
        if page in expected and re.search(r'\\mathbb\s*\{?\s*[A-Za-z]', nb_markdown(expected[page])) and not f.get('mathbb_source'):
            errs.append('the notebook writes \\mathbb but the page shows no double-struck letters')
        if f.get('sidebar_links', 0) < len(expected): errs.append(f'sidebar has {f.get("sidebar_links")} links')
        if not {'catalogue.html', 'references.html'} <= set(f.get('sidebar_pages', [])):
            errs.append('the sidebar does not list the catalogue and the references')
        if errs: failures[page] = errs
    ids = {p: set(f.get('ids', [])) for p, f in found.items()}
    for page, f in found.items():
        for link in f.get('links', []):
            path, _, anchor = unquote(link[len(base) + len('/site/'):]).partition('#')
            if not path.endswith('.html'):   # a file the build copied beside the pages (a plugin's source)
                if not (site/path).is_file(): failures.setdefault(page, []).append(f'link to a missing file: {link}')
            elif path not in ids: failures.setdefault(page, []).append(f'link to a missing page: {link}')
            elif anchor and anchor not in ids[path]: failures.setdefault(page, []).append(f'link to a missing anchor: {link}')
    print('checked pages:', ', '.join(f'{p} ({found[p].get("math", 0)} math, {len(found[p].get("links", []))} links)' for p in pages))
    assert not failures, 'pages that fail (screenshots in tests/_artifacts/docs/):\n' + '\n'.join(
        f'{p}: {"; ".join(e)[:1500]}' for p, e in failures.items())


def test_the_checks_can_fail(served):
    "A copy of a built page with each defect the checks look for: each one is caught."
    site, base, browser = served
    page = (site/'core.html').read_text(encoding='utf-8')
    BB_E = r'\mathbb E'
    tex = lambda t: f'<span class="katex-mathml"><math><semantics><annotation encoding="application/x-tex">{t}</annotation></semantics></math></span>'
    defects = ('<img src="https://example.com/remote.png"><img src="missing.png">'
               r'<p>raw $x_1$ and \mathbb{E} here</p>'
               f'<p><span class="katex">{tex("WIDE")}<span class="katex-html" style="display:inline-block;width:3000px">w</span></span></p>'
               f'<p><span class="katex">{tex("EMPTY")}</span></p>'
               f'<p><span class="katex">{tex(BB_E)}<span class="katex-html"><span class="mord mathnormal">E</span></span></span>'
               f'<span class="katex">{tex("X")}<span class="katex-html"><span class="mord mathbb" style="font-family:serif">R</span></span></span></p>'
               '<p>The [<code>Noise</code>](https://example.com/core.html#noise) called noise.</p><h2 id="twice">a</h2><h2 id="twice">b</h2>'
               '<p style="width:5em"><span class="nowrap"><span class="math"><span class="katex" style="white-space:normal">'   # the old rule
               '<span class="katex-html"><span class="base" style="display:inline-block;width:5em">x</span></span></span></span>.</span></p>'
               '<table><tr><td style="width:3em"><code style="white-space:normal;overflow-wrap:anywhere">clipped_st_long_name</code></td></tr></table>'
               '<pre class="signature" style="white-space:pre">def f(x, # ' + 'a long comment ' * 20 + '</pre>')
    assert page.count('id="search"') == 1
    page = page.replace('id="search"', 'id="no-search"')   # and no search box (search_hits -1)
    (site/'control.html').write_text(re.sub(r'<main\b[^>]*>', lambda m: m[0] + defects, page, count=1), encoding='utf-8')
    try: f = browser.check(f'{base}/site/control.html', ARTIFACTS/'docs'/'control.png')
    finally: (site/'control.html').unlink()
    assert 'https://example.com/remote.png' in f['outside_requests']
    assert set(f['broken_images']) >= {'https://example.com/remote.png', 'missing.png'}
    assert f['raw_tex'][0].startswith('$x_1') and '\\mathbb' in f['raw_tex'], f['raw_tex']
    assert f['math_overflow'] == ['WIDE'] and f['math_not_typeset'] == ['EMPTY'], (f['math_overflow'], f['math_not_typeset'])
    assert f['mathbb_missing'] == [BB_E] and f['mathbb_wrong_font'] == ['R'], (f['mathbb_missing'], f['mathbb_wrong_font'])
    assert f['raw_links'] == ['](https://example.com/core.html#noise)'] and f['duplicate_ids'] == ['twice'], (f['raw_links'], f['duplicate_ids'])
    assert f['math'] > 4 and f['mathbb_source'] > 1 and 'loaded' in f['mathbb_font']   # the page's own math passes
    assert f['search_hits'] == -1 and 'the page has no search box' in problems(f), (f['search_hits'], problems(f))
    assert f['punct_split'] and f['table_names_split'] == ['clipped_st_long_name'] and f['signatures_scroll'], \
        (f['punct_split'], f['table_names_split'], f['signatures_scroll'])
    (ARTIFACTS/'docs'/'control.png').unlink(missing_ok=True)


def test_readme_from_index(served):
    "The README is rendered from nbs/index.ipynb by the same build: title, description, no leftover directives."
    site, _, _ = served
    readme = (site/'README.md').read_text(encoding='utf-8')
    assert readme.startswith('# ') and '\n> ' in readme
    assert not re.search(r'^\s*#\|', readme, re.M) and 'show_doc(' not in readme


@needs_node
def test_katex_constructs():
    "Every construct the notebooks use comes out of KaTeX with the right meaning (read from its MathML)."
    build_docs.katex_install()
    cases = {
        r'\mathbb E[x\mid a]': '<mi mathvariant="double-struck">E</mi>',
        r'\text{rel\_rmse\_1}': '<mtext>rel_rmse_1</mtext>',
        r'\lVert g\rVert^2': '<mi>g</mi><msup><mo stretchy="false">∥</mo><mn>2</mn></msup>',  # the square of the norm
        r'x{\downarrow}i': '<mi>x</mi><mo lspace="0em" rspace="0em">↓</mo><mi>i</mi>',  # an ordinary arrow, not stretched
        r'\operatorname*{arg\,max}_k a_k': '<mi mathvariant="normal">arg\u2009max</mi>',  # one operator name, thin space
        r'\begin{aligned} a &= b \\ &= c \end{aligned}': '<mtable',
        r"F'(a)": '<mo mathvariant="normal" lspace="0em" rspace="0em">′</mo>',
    }
    res = build_docs.katex_batch([(t, False) for t in cases])
    for (t, want), r in zip(cases.items(), res):
        assert 'error' not in r and want in r['html'], (t, r)
    assert 'mathbb' in res[0]['html']   # the visible HTML uses KaTeX's double-struck font class
    assert 'error' in build_docs.katex_batch([(r'\frac{1', False)])[0]


@needs_node
def test_bad_formula_fails_the_build(tmp_path):
    "A formula KaTeX cannot parse stops the build, naming the page and the formula; nothing shows raw TeX."
    nbs = tmp_path/'nbs'; nbs.mkdir()
    md = lambda s: {'cell_type': 'markdown', 'id': f'c{abs(hash(s)) % 10**8}', 'metadata': {}, 'source': s}
    nb = {'cells': [md('# Bad\n> a page with a typo in its math'), md(r'Fine $x^2$, broken $\frac{1{2}$.')],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    (nbs/'bad_math.ipynb').write_text(json.dumps(nb), encoding='utf-8')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(nbs), '--out', str(tmp_path/'site')],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'bad_math.ipynb' in r.stderr and r'\frac{1{2}' in r.stderr, r.stderr[-2000:]


def test_docstring_italics_hold():
    "`show_doc` puts the docstring in italics: markdown characters in it are escaped, code spans and math are not."
    md = '### f\n\n```python\ndef f(*shape)\n```\n\n*One tensor [N, *shape] per x_i, `a*b` and $a_1$ <b>.*'
    html = build_docs.Markdown(build_docs.Problems()).render(build_docs.escape_docstring(md))
    assert '<em>One tensor [N, *shape] per x_i, <code>a*b</code> and' in html and '&lt;b&gt;.</em>' in html, html
    linked = build_docs.Markdown(build_docs.Problems()).render(build_docs.escape_docstring(
        '### g\n\n```python\ng()\n```\n\n*The [`Noise`](https://x.org/core.html#noise) called `noise`.*'))
    assert '<em>The <a href="https://x.org/core.html#noise"><code>Noise</code></a> called' in linked, linked


@needs_node
def test_short_formulas_keep_their_punctuation():
    "A short inline formula and the punctuation after it share a `.nowrap` (headings too); a long formula may still break."
    md = build_docs.Markdown(build_docs.Problems())
    h = md.render('## Unit $f$: bias\n\nNoise $Z$. Long $' + ' + '.join(f'a_{i}' for i in range(20)) + '$.')
    assert h.count('<span class="nowrap">') == 2 and '\ue001</span>.</span>' in h and '\ue001</span>.</p>' in h, h


def test_signature_lines():
    "A show_doc signature becomes one block per line (`--i`: its indent), so a long line wraps with a hanging indent."
    h = build_docs.Markdown(build_docs.Problems()).render('```python\ndef f(\n    x:int=1, # the x\n):\n```')
    out = build_docs.signature_lines(h)
    assert out.startswith('<pre class="highlight signature"><code><span class="sig-line" style="--i:0">'), out
    assert out.count('class="sig-line"') == 3 and '<span class="sig-line" style="--i:4">    <span class="n">x</span>' in out, out


def test_signature_renderer():
    "The renderer the build gives `show_doc`: classes as `class`, real signatures, only written annotations."
    import nbdev.showdoc
    R = build_docs.signature_renderer(nbdev.showdoc.BasicMarkdownRenderer)
    class NoInit: "No constructor of its own."
    class WithInit:
        def __init__(self, n:int=2, # how many
                     device=None, fn=print): pass
    def f(device=None, n:int=3, act=lambda x: x) -> int: return n
    assert str(R(NoInit).dm) == 'class NoInit():'
    w = str(R(WithInit).dm)
    assert w.startswith('class WithInit(') and 'n:int=2, # how many' in w and 'device=None' in w and 'NoneType' not in w, w
    s = str(R(f).dm)
    assert s.startswith('def f(') and 'device=None' in s and 'n:int=3' in s and ':function' not in s and '->int' in s, s


def test_doc_links_reach_what_they_name(served):
    """A section and an API entry with the same slug (section 'ReinMax', class `ReinMax`), or two API entries
    (`Estimator`, `estimator`), get one id each; links go to the entry they name; links nbdev writes into signatures
    are links."""
    site, _, _ = served
    read = lambda page: (site/page).read_text(encoding='utf-8')
    est = read('estimators.html')
    assert '<h3 id="Estimator">Estimator</h3>' in est and '<h3 id="estimator">estimator</h3>' in est
    assert re.search(r'href="estimators.html#Estimator"><code>Estimator</code>', est)
    assert re.search(r'href="estimators.html#estimator"><code>estimator</code>', est)
    gumbel = read('gumbel_family.html')
    assert '<h3 id="reinmax">ReinMax</h3>' in gumbel and re.search(r'<h2 id="reinmax-2">', gumbel)   # the class keeps nbdev's id
    core = read('core.html')   # a doc link in a signature comment and one in a docstring
    assert re.search(r'# a noise name or a <a href="core.html#noise">Noise</a>', core)
    assert re.search(r'<em>The <a href="core.html#noise"><code>Noise</code></a> called', core)


def test_catalogue_and_references(served):
    "The catalogue has a card for every registered estimator; the references page links every paper a card cites."
    site, base, browser = served
    from sbn_estimators.catalogue import CATALOGUE, REFERENCES
    from sbn_estimators.estimators import ESTIMATORS, list_estimators
    list_estimators()
    cat = browser.check(f'{base}/site/catalogue.html', ARTIFACTS/'docs'/'catalogue-check.png')
    missing = [n for n in ESTIMATORS if f'estimator-{n}' not in cat['ids']]
    assert not missing, f'registered estimators without a card: {missing}'
    local = [n for n in ESTIMATORS if n in CATALOGUE and 'forward' in CATALOGUE[n]]
    assert cat['images'] >= len(local), (cat['images'], local)   # a forward/backward plot per local estimator
    refs = browser.check(f'{base}/site/references.html', ARTIFACTS/'docs'/'references-check.png')
    cited = {k for n in ESTIMATORS for k in CATALOGUE[n]['refs']}
    unlinked = sorted(k for k in cited if REFERENCES[k][3] not in refs['external_links'])
    assert not unlinked, f'papers the catalogue cites that the references page does not link: {unlinked}'
    assert all(f'ref-{k}' in refs['ids'] for k in cited)


def test_pages_show_the_stored_outputs(served):
    """Each page shows its notebook's stored printed outputs, also of `#| slow` cells and of cells the build runs for
    their imports (it once reran them, and the page contradicted the notebook); and its H1 is the page's own title."""
    from nbdev.doclinks import _nbpath2html, nbglob
    site, _, _ = served
    missing, h1s = [], []
    for nb in sorted(nbglob(ROOT/'nbs', as_path=True)):
        page = (site/_nbpath2html(nb.relative_to(ROOT/'nbs'))).read_text(encoding='utf-8')
        h1s += [h for h in re.findall(r'<h1>([^<]*)</h1>', page) if h.endswith(' – sbn_estimators')]
        text = html.unescape(re.sub('<[^>]+>', '', page))
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or re.search(r'^#\|\s*(hide|hide_output|output:\s*false)\s*$', src, re.M): continue
            for o in c.get('outputs', []):
                lines = [l.strip() for l in ''.join(o.get('text', [])).splitlines() if l.strip()]
                if o.get('output_type') == 'stream' and lines and lines[0] not in text: missing.append(f'{nb.name}: {lines[0][:120]}')
    assert not missing, 'stored outputs the pages do not show:\n' + '\n'.join(missing)
    assert not h1s, f'H1s with the site name: {h1s}'


def test_stored_outputs_are_current():
    "The docs render stored outputs (tools/run_pages.py refreshes them): the home page's list of estimators is the registry's."
    import sbn_estimators
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text(encoding='utf-8'))
    cell = next(c for c in nb['cells'] if "', '.join(sbn_estimators.list_estimators())" in ''.join(c['source']))
    printed = ''.join(''.join(o.get('text', '')) for o in cell['outputs']).strip()
    assert ' '.join(printed.split()) == ', '.join(sbn_estimators.list_estimators()), "stale outputs: run tools/run_pages.py nbs/index.ipynb"
    assert max(map(len, printed.splitlines())) <= 80, 'the list of estimators is printed wrapped, to fit the page'


def test_every_page_ran_its_current_code(tmp_path):
    "The docs render stored outputs: each page's code is the code it last ran (tools/run_pages.py records a digest of it)."
    import run_pages
    stale = run_pages.stale_pages()
    assert not stale, f"pages changed since they last ran, so the docs show old outputs: {', '.join(stale)}; run tools/run_pages.py --stale"
    # the check can fail: a copy of a page with one code cell changed is stale, a markdown change is not
    nbs = tmp_path/'nbs'; nbs.mkdir()
    shutil.copy(ROOT/'nbs'/'_pages_ran.json', nbs)
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text(encoding='utf-8'))
    def write(): (nbs/'index.ipynb').write_text(json.dumps(nb), encoding='utf-8')
    write(); assert run_pages.stale_pages(nbs) == []
    next(c for c in nb['cells'] if c['cell_type'] == 'markdown')['source'].append('\nmore prose')
    write(); assert run_pages.stale_pages(nbs) == []
    next(c for c in nb['cells'] if c['cell_type'] == 'code')['source'].append('\n# changed')
    write(); assert run_pages.stale_pages(nbs) == ['index.ipynb']


def test_show_doc_signatures(served):
    """`show_doc` shows what Python reports: `class Name(...)` for a class, its constructor's real parameters (`()`
    without an `__init__` of its own, not `*args, **kwargs`), and only the annotations the code wrote (no
    `device:NoneType=None` from a default)."""
    site, _, _ = served
    sigs = {}
    for f in site.glob('*.html'):
        for m in re.finditer(r'<pre class="highlight signature"><code>(.*?)</code></pre>', f.read_text(encoding='utf-8'), re.S):
            t = html.unescape(re.sub('<[^>]+>', '', m[1].replace('<span class="sig-line"', '\n<span class="sig-line"'))).strip()
            sigs[t.split('(')[0]] = t
    assert len(sigs) > 200, len(sigs)
    assert sigs['class Noise'] == 'class Noise():' and sigs['class Estimator'] == 'class Estimator():', (sigs['class Noise'], sigs['class Estimator'])
    assert sigs['class SBNModel'] == 'class SBNModel(Protocol):', sigs['class SBNModel']
    assert 'def Noise' not in sigs and 'def MeanField' not in sigs and "noise='logistic'" in sigs['class MeanField']
    bad = [s for s in sigs.values() if re.search(r':(NoneType|function)\b', s) or re.search(r'\(\s*\*args, \*\*kwargs\s*\)', s)]
    assert not bad, bad[:5]


def test_home_links_and_catalogue_labels(served):
    "The home page links its pages (relative on the site); the catalogue's derivation links name the page and class."
    site, _, _ = served
    index = (site/'index.html').read_text(encoding='utf-8')
    for page in ('core.html', 'fashion_bnn.html', 'catalogue.html', 'references.html', 'tutorial_your_estimator.html'):
        assert f'href="{page}"' in index, page
    assert 'https://sbn-estimators.github.io' not in index
    readme = (site/'README.md').read_text(encoding='utf-8')
    assert '[the tutorial page](https://sbn-estimators.github.io/sbn_estimators/tutorial_your_estimator.html)' in readme
    cat = (site/'catalogue.html').read_text(encoding='utf-8')
    assert '<a href="estimators.html#meanfield">Estimators: MeanField</a>' in cat, re.findall(r'derivation</td>.{0,120}', cat)[:2]
    assert '>estimators.html</a>' not in cat


SEARCH_JS = r'''(async (q) => {
  const box = document.getElementById('search');
  box.focus(); box.value = q; box.dispatchEvent(new Event('input'));
  for (let t = 0; t < 300 && !window.SEARCH_INDEX; t++) await new Promise(r => setTimeout(r, 50));
  await new Promise(r => setTimeout(r, 100));
  return [...document.querySelectorAll('#search-results li a[href]')].map(a => [a.getAttribute('href'), a.textContent]);
})'''


def test_search(served):
    """Search: a word of a page's title brings the page up first ("fashion": the three Fashion-MNIST pages); one hit
    per target, and a section and an API entry of one name are told apart; Enter opens the first hit, arrow keys move."""
    _, base, browser = served
    url = f'{base}/site/index.html'
    hits = browser.run(url, SEARCH_JS + "('fashion')")[0]
    assert {h for h, _ in hits[:3]} == {'fashion_sbn.html', 'fashion_bnn.html', 'fashion_binaryduo.html'}, hits[:5]
    hits = browser.run(url, SEARCH_JS + "('bop')")[0]
    hrefs = [h for h, _ in hits]
    assert len(hrefs) == len(set(hrefs)), hrefs
    bop = [t for h, t in hits if h.startswith('binary_optimizers.html#bop')]
    assert len(bop) == 2 and any(t.endswith('· class') for t in bop) and any(t.endswith('· section') for t in bop), bop
    enter = lambda keys: (SEARCH_JS + "('fashion').then(h => { setTimeout(() => {" + ''.join(   # the keys after the hits are returned:
        f"document.getElementById('search').dispatchEvent(new KeyboardEvent('keydown', {{key: '{k}', bubbles: true}}));" for k in keys)
        + '}, 50); return h; })')   # a navigation before the evaluation returns closes its context (a race under load)
    moved = lambda p: bool(p) and not p.endswith('/index.html')   # the tab left the page it opened (a loaded machine may take seconds)
    first, went = browser.run(url, enter(['Enter']), 'location.pathname', moved)
    assert went.endswith('/' + first[0][0]), (went, first[:2])
    first, went = browser.run(url, enter(['ArrowDown', 'ArrowDown', 'Enter']), 'location.pathname', moved)
    assert went.endswith('/' + first[1][0]), (went, first[:2])
