"""The docs site in a real browser.

Builds the site from `nbs/` into a temporary folder with `tools/build_docs.py`, serves it on 127.0.0.1 and opens
every page in headless Debian Chromium through the DevTools protocol. Each page must load with no request leaving
the machine, show no raw `$...$`/`$$...$$`, show its typeset math (MathML) and load every image; links between
pages must resolve. Failing pages are saved as screenshots under tests/_artifacts/. A control page with known
defects checks that the checks can fail.
"""
import base64, json, re, shutil, subprocess, sys, tempfile, threading, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT/'tests'/'_artifacts'
CHROMIUM = shutil.which('chromium')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='Debian chromium is not installed '
                                '(apt-get update && apt-get install -y chromium chromium-driver)')

# Runs in the page after its load event: loads every image eagerly and reports what a reader would see.
CHECK_JS = r'''(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => null); }));
  const search = document.getElementById('search');
  let hits = -1;
  if (search) {
    search.value = 'estimator'; search.dispatchEvent(new Event('input'));
    for (let t = 0; t < 50 && !window.SEARCH_INDEX; t++) await new Promise(r => setTimeout(r, 50));
    await new Promise(r => setTimeout(r, 50));
    hits = document.querySelectorAll('#search-results li a[href]').length;
  }
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, math, script, style').forEach(e => e.remove());
  const raw = body.innerText.match(/\$\$|\$[^\s$](?:[^$]*?[^\s$\\])?\$/g) || [];
  const maths = [...document.querySelectorAll('main math')];
  return {
    broken_images: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src')),
    raw_math: raw.slice(0, 5),
    math: maths.length,
    math_not_typeset: maths.filter(m => !(m instanceof MathMLElement) || !m.getBoundingClientRect().width).length,
    math_errors: [...document.querySelectorAll('.math-error')].map(e => e.textContent).slice(0, 5),
    sidebar_links: document.querySelectorAll('nav.sidebar a').length,
    search_hits: hits,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith(location.origin)),
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

    def close(self):
        self.ws.close(); self.proc.terminate(); self.proc.wait(30)
        shutil.rmtree(self.profile, ignore_errors=True)


def problems(f):
    "What a reader would call broken on a page, from `Browser.check`'s findings."
    if 'js_failed' in f: return [f'check script failed: {f["js_failed"]}']
    keys = ['outside_requests', 'failed_requests', 'http_errors', 'js_exceptions', 'broken_images', 'raw_math', 'math_errors']
    res = [f'{k}: {f[k]}' for k in keys if f[k]]
    if not f['loaded']: res.append('no load event')
    if f['math_not_typeset']: res.append(f'{f["math_not_typeset"]} of {f["math"]} math elements not typeset')
    if f['search_hits'] == 0: res.append('search found nothing for "estimator"')
    return res


def nb_has_math(nb):
    "Whether a notebook's markdown has LaTeX ($...$ or $$...$$), read from the source, not from the build."
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    md = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    md = re.sub(r'```.*?```|`[^`\n]*`', '', md, flags=re.S)
    return re.search(r'\$\$|\$[^\s$][^$\n]*?[^\s$\\]\$|\$[^\s$]\$', md) is not None


@pytest.fixture(scope='module')
def served():
    "Build the site into a temporary folder, serve it on 127.0.0.1, and start the browser."
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
        if f.get('sidebar_links', 0) < len(expected): errs.append(f'sidebar has {f.get("sidebar_links")} links')
        if errs: failures[page] = errs
    ids = {p: set(f.get('ids', [])) for p, f in found.items()}
    for page, f in found.items():
        for link in f.get('links', []):
            path, _, anchor = unquote(link[len(base) + len('/site/'):]).partition('#')
            if path not in ids: failures.setdefault(page, []).append(f'link to a missing page: {link}')
            elif anchor and anchor not in ids[path]: failures.setdefault(page, []).append(f'link to a missing anchor: {link}')
    print('checked pages:', ', '.join(f'{p} ({found[p].get("math", 0)} math, {len(found[p].get("links", []))} links)' for p in pages))
    assert not failures, 'pages that fail (screenshots in tests/_artifacts/docs/):\n' + '\n'.join(
        f'{p}: {"; ".join(e)[:1500]}' for p, e in failures.items())


def test_the_checks_can_fail(served):
    "A copy of a built page with a remote image, a missing image and raw LaTeX: each one is caught."
    site, base, browser = served
    page = (site/'core.html').read_text(encoding='utf-8')
    bad = page.replace('<main>', '<main><img src="https://example.com/remote.png"><img src="missing.png">'
                                 '<p>raw $x_1$ and $$y$$ here</p>', 1)
    (site/'control.html').write_text(bad, encoding='utf-8')
    try: f = browser.check(f'{base}/site/control.html', ARTIFACTS/'docs'/'control.png')
    finally: (site/'control.html').unlink()
    assert 'https://example.com/remote.png' in f['outside_requests']
    assert set(f['broken_images']) >= {'https://example.com/remote.png', 'missing.png'}
    assert f['raw_math'] == ['$x_1$', '$$', '$$'], f['raw_math']
    assert f['math'] > 0 and not f['math_not_typeset']
    (ARTIFACTS/'docs'/'control.png').unlink(missing_ok=True)


def test_readme_from_index(served):
    "The README is rendered from nbs/index.ipynb by the same build: title, description, no leftover directives."
    site, _, _ = served
    readme = (site/'README.md').read_text(encoding='utf-8')
    assert readme.startswith('# ') and '\n> ' in readme
    assert not re.search(r'^\s*#\|', readme, re.M) and 'show_doc(' not in readme
