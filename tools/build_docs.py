#!/usr/bin/env python
"""Build the docs site (`docs/`) and `README.md` from `nbs/`, offline.

nbdev's own notebook processing (`FilterDefaults`: front matter, `#| hide`, `#| export`, `show_doc`, links)
prepares every notebook exactly as `nbdev_docs` would hand it to Quarto; this script then renders the processed
notebooks to static HTML itself (markdown-it, Pygments, and LaTeX pre-rendered to HTML by KaTeX under node, all
formulas of a page in one batch), so no network, no Quarto and no math engine in the browser are needed. KaTeX is
the npm package pinned in `tools/package-lock.json`; the build runs `npm ci` in `tools/` when it is not installed
yet, and copies KaTeX's stylesheet and fonts into `docs/assets/katex/`. A formula KaTeX cannot parse fails the
build, naming the page and the formula. Usage:

    python tools/build_docs.py                  # docs/ and README.md
    python tools/build_docs.py --readme-only    # README.md only
    python tools/build_docs.py --nbs DIR --out DIR   # build another notebook folder elsewhere (README goes to DIR too)

A notebook folder outside the repository (no settings.ini in it or above it) links names of the package as the
repository's pages do, with the settings.ini of the current folder's project, else that of this tool's repository.
"""
import argparse, base64, copy, html, json, os, re, shutil, subprocess, sys, tempfile, time, warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from nbdev.config import get_config
from nbdev.doclinks import _nbpath2html, nbglob
from nbdev.processors import FilterDefaults, exec_show_docs
from execnb.nbio import read_nb, write_nb

# Sidebar groups: the first pattern found in a notebook's file name (number included) or folder wins; notebooks
# that match none go to the last group. Order inside a group is the file order.
GROUPS = [
    ('Catalogue and references', r'catalogue|references'),
    ('Core', r'^0[0-3][a-z]?_|core|exact|registry'),
    ('Straight-through family', r'straight|reste|ede|mirror'),
    ('Binary weights', r'binary_weights|biper|binary_optimizers'),
    ('Unbiased and relaxed estimators', r'unbiased|relax|reinforce|disarm|muprop|gumbel|concrete|control_variates|rodeo'),
    ('PSA and DST', r'^10[a-z]?_|psa|dst'),
    ('Diagnostics', r'gradeval|diagnos|mismatch|^\d+[a-z]?_binaryduo|indicator'),
    ('Layers and training', r'layer|model|data|train|summary|lr_search'),
    ('Experiments on Fashion-MNIST', r'fashion'),
    ('Tutorials', r'tutorial|example|howto'),
    ('More', r''),
]
MIME_ORDER = ['image/svg+xml', 'image/png', 'image/jpeg', 'text/html', 'text/markdown', 'text/latex', 'text/plain']
TOOLS = Path(__file__).resolve().parent
KATEX = TOOLS/'node_modules'/'katex'
_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_re_quarto_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_re_math_slot = re.compile('\ue000(\\d+)\ue001')  # where a formula goes once KaTeX has rendered the page's batch
_re_math_punct = re.compile('(<span class="math">\ue000(\\d+)\ue001</span>[.,;:!?)\\]]+)')   # no line break before the punctuation
NOWRAP_MATH = 28   # an inline formula of at most this many symbols (`math_text` less spaces) stays on one line with its punctuation


class Problems(list):
    "Warnings collected while building; printed at the end, fatal with `--strict`."
    def add(self, where, msg): self.append(f'{where}: {msg}'); print(f'warning: {where}: {msg}', file=sys.stderr)


# ---------------------------------------------------------------- nbdev processing (one process per notebook)
class tolerant_exec_show_docs(exec_show_docs):
    """nbdev's `exec_show_docs`, except that the page shows the outputs stored in the notebook: a `#| slow` or
    `#| cuda` cell is not run at all, a cell run for its imports keeps its stored outputs (only `show_doc` output is
    made here), a cell that fails keeps them too and is reported, not fatal; and `#| exec_doc` cells run also in a
    notebook that exports nothing (a page generated at build time)."""
    def __call__(self, cell):
        if 'exec_doc' in cell.directives_: self.nb.has_docs_ = True
        if {'slow', 'cuda'} & set(cell.directives_): return
        outputs = copy.deepcopy(cell.get('outputs'))
        try:
            super().__call__(cell)
            if outputs and 'show_doc' not in cell.source: cell['outputs'] = outputs
        except Exception:
            if outputs is not None: cell['outputs'] = outputs
            e, self.k.exc = self.k.exc, None   # reported once, not again by every later cell
            self.nb.doc_errors_ = getattr(self.nb, 'doc_errors_', []) + [
                f'cell {cell.idx_} failed while running code for show_doc ({type(e).__name__}: {e}); '
                'nbdev runs every cell that has an import: keep imports in cells of their own']


class DocsFilter(FilterDefaults):
    "nbdev's docs processors (what `nbdev_docs` hands to Quarto), with `tolerant_exec_show_docs`."
    def base_procs(self): return [tolerant_exec_show_docs if p is exec_show_docs else p for p in super().base_procs()]


def _real_signature(sym):
    "`inspect.signature` of `sym` (annotations evaluated where they can be); `None` where it has none."
    import inspect
    for ev in (True, False):
        try: return inspect.signature(sym, eval_str=ev)
        except (ValueError, TypeError, NameError): continue
        except Exception: return None
    return None


def _exported_copy(obj, module=None):
    """The package's own copy of the class `obj` that a notebook defines (`show_doc` runs on the notebook's copy, whose
    source `inspect` cannot read, so fastcore finds none of its fields' comments): the class of that name in the
    package's `_modidx`, in `module` (the page's `default_exp`) when that one has it, else the only one of that name
    whose parameters are the same; `None` where there is none or no way to tell."""
    import importlib, inspect
    try:
        lib = get_config().lib_path.name
        syms = importlib.import_module(f'{lib}._modidx').d['syms']
    except Exception: return None
    name = obj.__name__
    mods = [m for m, d in syms.items() if f'{m}.{name}' in d]
    if module:
        mine = [m for m in mods if m == module or m.endswith('.' + module)]
        if mine: mods = mine
    params = lambda o: list(s.parameters) if (s := _real_signature(o)) is not None else None
    found = []
    for m in mods:
        try: c = getattr(importlib.import_module(m), name)
        except Exception: continue
        if inspect.isclass(c) and params(c) == params(obj): found.append(c)
    return found[0] if len(found) == 1 else None


def _star_comment(fn, name):
    """The comment after `*name` or `**name` in the signature of `fn` (fastcore's docments records none for them):
    the first comment after the name and before the end of its line; `None` where there is none."""
    import inspect, io, textwrap, tokenize
    try: src = textwrap.dedent(inspect.getsource(fn))
    except Exception: return None   # a builtin, `object.__init__`, ...
    depth, star, seen_def = 0, False, False
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError): return None
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and t.string == 'def' and not seen_def: seen_def = True; continue
        if not seen_def: continue
        if t.type == tokenize.OP and t.string in '([{': depth += 1
        elif t.type == tokenize.OP and t.string in ')]}':
            depth -= 1
            if depth == 0: return None   # the end of the signature
        elif depth == 1 and t.type == tokenize.OP and t.string in ('*', '**'): star = True; continue
        elif star and t.type == tokenize.NAME and t.string == name:
            comma = False   # a parameter after it on the same line owns the comment
            for u in toks[i+1:]:
                if u.type == tokenize.COMMENT: return u.string.lstrip('#').strip() or None
                if u.type in (tokenize.NL, tokenize.NEWLINE) or (comma and u.type == tokenize.NAME): return None
                if u.type == tokenize.OP and u.string in '([{': depth += 1
                elif u.type == tokenize.OP and u.string in ')]}':
                    depth -= 1
                    if depth == 0: return None   # `**kw): # ...` is the return's comment
                elif u.type == tokenize.OP and u.string == ',' and depth == 1: comma = True
            return None
        star = False
    return None


def signature_renderer(base, module=None):
    """`base` (nbdev's `BasicMarkdownRenderer`) with the signature Python reports: a class reads `class Name(...)`
    with its constructor's parameters (`()` where it has no `__init__` of its own, not fastcore's `*args, **kwargs`
    of `object.__init__`), and a parameter shows only the annotation it was written with (fastcore would add the
    type of its default: `device:NoneType=None`). The parameters' comments (docments) stay; those of a class the
    notebook defines (`show_doc` runs on it, and `inspect` has no source for it) come from the package's exported
    copy (`_exported_copy`; `module`: the page's `default_exp`), and those of `*args` and `**kwargs`, which fastcore
    drops, from the source (`_star_comment`). An exception class takes `*args` (`BaseException`'s signature, which
    `inspect` cannot read); a `typing.Protocol` is not constructed, so it shows its base: `class SBNModel(Protocol):`."""
    import inspect
    from fastcore.basics import AttrDict
    from fastcore.docments import docments

    class SignatureRenderer(base):
        def __init__(self, sym, *args, **kwargs):
            super().__init__(sym, *args, **kwargs)
            dm, obj = self.dm, self.dm.obj
            if inspect.isclass(obj) and getattr(obj, '_is_protocol', False):
                self.dm = f'class {obj.__name__}(Protocol):'; return
            sig = _real_signature(obj) if callable(obj) else None
            if sig is None and inspect.isclass(obj) and issubclass(obj, BaseException):
                sig = inspect.Signature([inspect.Parameter('args', inspect.Parameter.VAR_POSITIONAL)])
            if sig is None:
                if inspect.isclass(obj) and str(dm).startswith('def '): self.dm = 'class ' + str(dm)[len('def '):]
                return
            old, src = dm.dm or {}, obj
            if inspect.isclass(obj) and not any((v or {}).get('docment') for v in old.values()):
                exported = _exported_copy(obj, module)
                if exported is not None:
                    src = exported
                    try: old = docments(exported, full=True) or old
                    except Exception: pass
            doc = lambda k: (old.get(k) or {}).get('docment')
            fn = src.__init__ if inspect.isclass(src) else src
            new = {k: AttrDict(docment=doc(k) or (_star_comment(fn, k) if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) else None),
                               anno=p.annotation, default=p.default, kind=p.kind)
                   for k, p in sig.parameters.items()}
            ret = old.get('return') or AttrDict(docment=None)
            new['return'] = AttrDict(docment=ret.get('docment'), default=inspect.Parameter.empty,
                                     anno=inspect.Parameter.empty if inspect.isclass(obj) else sig.return_annotation)
            dm.dm = AttrDict(new)
            if inspect.isclass(obj):   # the markdown renderer reads the signature as `str(self.dm)`
                text = str(dm)
                self.dm = 'class ' + text[len('def '):] if text.startswith('def ') else text
    return SignatureRenderer


_re_default_exp = re.compile(r'^\s*#\s*\|\s*default_exp\s+(\S+)', re.M)


def default_exp(nb):
    "The module a notebook exports to by default (its `#| default_exp`), `None` where it exports none."
    for c in nb.cells:
        if c.cell_type == 'code' and (m := _re_default_exp.search(''.join(c.source))): return m[1]
    return None


def use_project_config(root):
    """Make nbdev's `get_config()` in this process read `root`'s settings.ini wherever nbdev finds none from the current
    folder up. A notebook folder outside the repository (`--nbs`) has none: nbdev would then link the names of no
    library at all, silently, so the pages of such a folder link the package of `root` as the repository's own pages do."""
    import nbdev.config as nc
    cfg_file = Path(root)/nc._nbdev_cfg_name
    if not cfg_file.is_file():
        print(f'build_docs: error: no {cfg_file.name} in {Path(root)}, the project whose package the pages link', file=sys.stderr)
        sys.exit(2)
    find = nc.__dict__.setdefault('_nbdev_config_file_found', nc._nbdev_config_file)   # nbdev's own search, kept once
    def config_file(cfg_name=nc._nbdev_cfg_name, path=None):
        f = find(cfg_name, path)
        return f if f.exists() or path is not None or cfg_name != cfg_file.name else cfg_file
    nc._nbdev_config_file = config_file
    nc.get_config.cache_clear()


def _process(args):
    """Run nbdev's notebook processing on `src` into `dst` (in a worker process, as `nbdev_proc_nbs` does), in the
    notebook's folder as `nbdev_test` runs it, so relative paths (`data/...`) mean the same. The package documented
    is the one in the tree being built (its root first on `sys.path`), not whichever copy is installed."""
    src, dst, root = args
    if str(root) not in sys.path[:1]: sys.path.insert(0, str(root))
    use_project_config(root)   # the notebook's folder may be outside the project (`--nbs`)
    import nbdev.showdoc
    nb = read_nb(src)
    nbdev.showdoc.BasicMarkdownRenderer = signature_renderer(nbdev.showdoc.BasicMarkdownRenderer, default_exp(nb))
    os.chdir(Path(src).parent)
    os.environ['IN_TEST'] = '1'
    warnings.simplefilter('ignore')
    DocsFilter()(nb)
    write_nb(nb, dst)
    return getattr(nb, 'doc_errors_', [])


def process_notebooks(sources, nbs, tmp, problems, workers=2):
    "Process the notebooks `sources` (under `nbs`) with nbdev into `tmp`; returns {source path: processed path}."
    sys.path.insert(0, str(Path(__file__).parent))
    from build_docs import _process  # importable by name: notebook code run for show_doc replaces `__main__`
    root = get_config().config_path.resolve()
    jobs = [(p, tmp/p.relative_to(nbs), root) for p in sources]
    for _, d, _ in jobs: d.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    # a fresh process per notebook, as `nbdev_test` runs them: code one notebook runs for its docs (an estimator it
    # registers, a global it sets) must not leak into the next one's page
    fresh = {'max_tasks_per_child': 1} if sys.version_info >= (3, 11) else {}
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), mp_context=get_context('spawn'), **fresh) as ex:
        for (src, dst, _), fut in zip(jobs, [ex.submit(_process, j) for j in jobs]):
            try: errors = fut.result()
            except Exception as e: problems.add(src.name, f'not rendered: {type(e).__name__}: {e}'); continue
            for msg in errors: problems.add(src.name, msg)
            out[src] = dst
    return out


# ---------------------------------------------------------------- markdown, math, code
def slug(text):
    "Pandoc's header ids (which nbdev's doc links expect): lowercase, keep alphanumerics and `_-.`, spaces to `-`."
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower())
    return re.sub(r'\s+', '-', s).lstrip('0123456789.-_') or 'section'


class MathError(Exception): pass


def katex_install():
    "Install the pinned KaTeX into `tools/node_modules` with `npm ci` (once; CI and fresh checkouts)."
    if (KATEX/'dist'/'katex.min.css').exists(): return
    if shutil.which('node') is None or shutil.which('npm') is None:
        raise SystemExit('build_docs: error: node and npm are needed to render the math (KaTeX); install Node.js')
    print('installing KaTeX: npm ci in tools/', file=sys.stderr)
    r = subprocess.run(['npm', 'ci', '--no-audit', '--no-fund'], cwd=TOOLS, capture_output=True, text=True)
    if r.returncode or not (KATEX/'dist'/'katex.min.css').exists():
        raise SystemExit(f'build_docs: error: `npm ci` in tools/ failed:\n{r.stderr[-2000:]}')


def katex_batch(formulas):
    "KaTeX's HTML (+ hidden MathML) for `formulas` [(tex, display), ...], one node process for the batch."
    if not formulas: return []
    r = subprocess.run(['node', str(TOOLS/'katex_render.js')], input=json.dumps(formulas), cwd=TOOLS,
                       capture_output=True, text=True, encoding='utf-8')
    if r.returncode: raise MathError(f'KaTeX (node) failed: {r.stderr[-2000:]}')
    return json.loads(r.stdout)


def math_text(src):
    "A plain-text stand-in for a formula in the search index: its symbols without the TeX commands."
    return re.sub(r'\s+', ' ', re.sub(r'\\[A-Za-z]+|[\\{}^_&]', ' ', src)).strip()


def code_html(src, lang='python'):
    try: lexer = get_lexer_by_name(lang or 'text')
    except ClassNotFound: lexer = TextLexer()
    return '<pre class="highlight"><code>' + highlight(src, lexer, HtmlFormatter(nowrap=True)) + '</code></pre>\n'


class Markdown:
    """markdown-it (CommonMark + tables + strikethrough) with header ids and link rewriting. Math becomes a slot
    (`\\ue000n\\ue001`) and its (tex, display) goes to `self.formulas`; `Page.render` fills the slots with KaTeX."""
    def __init__(self, problems):
        self.problems, self.formulas = problems, []
        md = MarkdownIt('commonmark', {'html': True, 'highlight': lambda s, lang, _: code_html(s, lang)})
        md.enable(['table', 'strikethrough'])
        md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
        md.use(anchors_plugin, min_level=1, max_level=4, slug_func=slug)
        md.use(attrs_plugin, after=('image', 'link_close'))
        md.add_render_rule('math_inline', self.math(False, 'span'))
        md.add_render_rule('math_inline_double', self.math(True, 'span'))
        md.add_render_rule('math_block', self.math(True, 'div'))
        md.add_render_rule('math_block_label', self.math(True, 'div'))
        self.md = md

    def math(self, display, tag):
        def rule(renderer, toks, i, options, env):
            self.formulas.append((toks[i].content.strip(), display))
            slot = f'\ue000{len(self.formulas) - 1}\ue001'
            return f'<{tag} class="math{" display" if display else ""}">{slot}</{tag}>' + ('\n' if tag == 'div' else '')
        return rule

    def render(self, text, fix_url=None, headings=None):
        "HTML of `text`; `fix_url(url)` rewrites link/image targets; headings (level, id, html) go to `headings`."
        toks = self.md.parse(text)
        for t in toks:
            for c in (t.children or []):
                if fix_url and c.type == 'link_open': c.attrs['href'] = fix_url(c.attrs['href'])
                if fix_url and c.type == 'image': c.attrs['src'] = fix_url(c.attrs['src'])
        for i, t in enumerate(toks):
            if t.type == 'heading_open' and headings is not None:
                inner = [c for c in toks[i+1].children if c.type not in ('link_open', 'link_close')]
                headings.append((int(t.tag[1]), t.attrs.get('id', ''), self.nowrap(self.md.renderer.render(inner, self.md.options, {}))))
        return self.nowrap(self.md.renderer.render(toks, self.md.options, {}))

    def nowrap(self, h):
        "`h` with each short formula and the punctuation after it in one `.nowrap`; a long formula may still break inside."
        short = lambda m: len(re.sub(r'\s', '', math_text(self.formulas[int(m[2])][0]))) <= NOWRAP_MATH
        return _re_math_punct.sub(lambda m: f'<span class="nowrap">{m[1]}</span>' if short(m) else m[1], h)

    def typeset(self, parts, where):
        """`[(html, text), ...]` for HTML `parts` (of one page): the slots filled with KaTeX's rendering of
        `self.formulas`, and the text for search. Raises `MathError` naming `where` and every formula KaTeX cannot parse."""
        res = katex_batch(self.formulas)
        bad = [f'{where}: {"display" if d else "inline"} formula {t!r}: {r["error"]}'
               for (t, d), r in zip(self.formulas, res) if 'error' in r]
        if bad: raise MathError('\n'.join(bad))
        for (t, d), r in zip(self.formulas, res):
            for w in r.get('warnings', []): self.problems.add(where, f'KaTeX warning in {t!r}: {w}')
            if re.search(r'\\mathbb\s*\{?\s*[0-9]', t):
                self.problems.add(where, f'{t!r}: KaTeX has no double-struck digits, \\mathbb 1 shows a plain 1 '
                                         '(write an Iverson bracket [...] or \\mathbf 1)')
        plain = lambda m: ' ' + html.escape(math_text(self.formulas[int(m[1])][0])) + ' '
        return [(_re_math_slot.sub(lambda m: res[int(m[1])]['html'], h), text_of(_re_math_slot.sub(plain, h))) for h in parts]


_re_doc_line = re.compile(r'(\n```\n\n)\*(.+)\*\s*$', re.S)
_re_code_or_math = re.compile(r'\[`[^`\n]+`\]\([^)\s]+\)|(`+).+?\1|\$[^$\n]+\$', re.S)   # nbdev's links, code, math
_re_code_link = re.compile(r'\[`([^`<\n]+)`\]\(([^)\s<"]+)\)')   # a doc link nbdev wrote into a signature's comment


_re_sig_pre = re.compile(r'<pre class="highlight"><code>(.*?)</code></pre>', re.S)


def signature_lines(h):
    """`show_doc` signatures in the HTML `h` with one block per line (`pre.signature`, `span.sig-line`), so the page's
    stylesheet can wrap a long line (a parameter's comment) with a hanging indent instead of clipping it; `--i` is
    the line's own indent in characters (its spaces stay, for copying). Pygments' spans never cross a line here (a
    signature has no multi-line string)."""
    def one(line):
        lead = re.match(r'(?:<[^>]+>)*( *)', line)   # the indent, maybe after Pygments' opening tags
        return f'<span class="sig-line" style="--i:{len(lead[1])}">{line}</span>'
    return _re_sig_pre.sub(lambda m: '<pre class="highlight signature"><code>'
                           + ''.join(one(l) for l in m[1].rstrip('\n').split('\n')) + '</code></pre>', h)


def escape_docstring(md):
    """nbdev's `show_doc` markdown ends with the docstring in italics (`*...*`); escape what markdown would read in
    it (`*shape`, `_`, `<`, `[`) outside code spans, `$math$` and the doc links nbdev wrote, so the italics hold."""
    def esc(s): return re.sub(r'([*_<\[\]])', r'\\\1', s)
    def fix(m):
        doc, parts, pos = m[2], [], 0
        for c in _re_code_or_math.finditer(doc): parts += [esc(doc[pos:c.start()]), c[0]]; pos = c.end()
        return m[1] + '*' + ''.join(parts) + esc(doc[pos:]) + '*'
    return _re_doc_line.sub(fix, md)


# ---------------------------------------------------------------- one notebook to a page
def cell_options(src):
    "Split the Quarto options nbdev leaves at the top of a code cell (`#| echo: false`) from its code."
    lines, opts = src.splitlines(), {}
    while lines and _re_quarto_dir.match(lines[0]):
        k, v = _re_quarto_dir.match(lines.pop(0)).groups()
        opts[k] = v.strip('"\'')
    return opts, '\n'.join(lines).strip('\n')


def is_image(o):
    "Whether a cell output shows as a figure (its richest MIME type is an image)."
    return next((m for m in MIME_ORDER if m in o.get('data', {})), '').startswith('image/')


def figure_alt(opts, k, n):
    "The alt text of figure `k` (from 0) of the `n` a cell shows: its `#| fig-alt:` option, numbered when `n` > 1; None without one."
    alt = opts.get('fig-alt')
    if not alt: return None
    return f'{alt} ({k + 1} of {n})' if n > 1 else alt


def stream_text(text):
    "What a terminal would show: carriage returns (progress bars) overwrite the line."
    return '\n'.join(l.rsplit('\r', 1)[-1] for l in _re_ansi.sub('', text).split('\n'))


def text_of(h):
    "Plain text of an HTML fragment (math by its MathML text)."
    return re.sub(r'\s+', ' ', html.unescape(re.sub(r'<[^>]+>', ' ', h))).strip()


def join(v): return ''.join(v) if isinstance(v, list) else v


class Page:
    "One processed notebook rendered to `out/self.path`."
    def __init__(self, nb_src, proc, nbs):
        self.src, self.proc = nb_src, proc
        self.nb = json.loads(proc.read_text(encoding='utf-8'))
        self.fm = {}
        if self.nb['cells'] and self.nb['cells'][0]['cell_type'] == 'raw':
            raw = join(self.nb['cells'][0]['source']).strip()
            if raw.startswith('---'): self.fm = yaml.safe_load(raw.strip('-\n')) or {}
        rel = nb_src.relative_to(nbs)
        self.path = rel.parent/self.fm.get('output-file', _nbpath2html(rel).name)
        self.title = str(self.fm.get('title') or rel.stem)
        head, _, rest = self.title.partition(': ')   # the sidebar's label: 'Core: stochastic binary units ...' -> 'Core'
        self.label = rest[:1].upper() + rest[1:] if head == 'Tutorial' and rest else head   # (its group says 'Tutorials')
        self.description = str(self.fm.get('description') or '')
        folder = rel.parent.as_posix().lower() if rel.parent != Path('.') else ''
        self.group = next(g for g, pat in GROUPS if re.search(pat, folder) or re.search(pat, rel.stem.lower()))
        self.root = '../' * len(rel.parent.parts)

    def cells(self):
        "The cells after the front matter, as (kind, options, source, outputs)."
        for c in self.nb['cells']:
            src = join(c.get('source', ''))
            if c['cell_type'] == 'raw' and src.strip().startswith('---'): continue
            if c['cell_type'] == 'markdown': yield 'markdown', {}, src, []
            elif c['cell_type'] == 'code':
                opts, code = cell_options(src)
                if opts.get('include') == 'false': continue
                yield 'code', opts, code, ([] if opts.get('output') == 'false' else c.get('outputs', []))

    def render(self, site, out):
        "The page body HTML; writes figures under `out`; fills `self.headings` and `self.text` (for search)."
        md, self.headings, parts, n_fig, api = site.md, [], [], 0, {}   # api: show_doc headings, index -> 'class'/'function'/'API' 
        md.formulas = []
        fix = lambda u: site.fix_url(u, self)
        desc = f'<p class="description">{md.md.renderInline(self.description)}</p>' if self.description else ''
        for kind, opts, src, outputs in self.cells():
            if kind == 'markdown':
                parts.append(md.render(src, fix, self.headings)); continue
            cell = []
            if src and opts.get('echo') != 'false':
                code = code_html(src, 'python')
                if 'code-fold' in opts:
                    code = (f'<details{" open" if opts["code-fold"] == "show" else ""}><summary>'
                            f'{html.escape(opts.get("code-summary", "Code"))}</summary>{code}</details>')
                cell.append(f'<div class="cell-input">{code}</div>')
            figs = [o for o in outputs if is_image(o)]
            for o in outputs:
                t = o.get('output_type')
                if t == 'stream':
                    cell.append(f'<pre class="output {o.get("name", "")}">{html.escape(stream_text(join(o["text"])))}</pre>')
                elif t == 'error':
                    cell.append(f'<pre class="output error">{html.escape(_re_ansi.sub("", chr(10).join(o.get("traceback", []))))}</pre>')
                elif t in ('display_data', 'execute_result'):
                    data = o.get('data', {})
                    mime = next((m for m in MIME_ORDER if m in data), None)
                    if mime is None: continue
                    v = join(data[mime])
                    if mime.startswith('image/'):
                        n_fig += 1
                        ext = {'image/svg+xml': 'svg', 'image/png': 'png', 'image/jpeg': 'jpg'}[mime]
                        name = f'figures/{self.path.with_suffix("").as_posix().replace("/", "-")}-{n_fig}.{ext}'
                        (out/name).parent.mkdir(parents=True, exist_ok=True)
                        if ext == 'svg': (out/name).write_text(v, encoding='utf-8')
                        else: (out/name).write_bytes(base64.b64decode(v))
                        alt = figure_alt(opts, next(k for k, f in enumerate(figs) if f is o), len(figs))
                        if alt is None:
                            site.problems.add(self.src.name, f'figure {n_fig} has no `#| fig-alt:` text for readers who cannot see it')
                            alt = f'{self.title}: figure {n_fig}'
                        alt = html.escape(alt, quote=True)
                        cell.append(f'<figure class="output"><img src="{self.root}{name}" alt="{alt}" loading="lazy"></figure>')
                    elif mime == 'text/html': cell.append(f'<div class="output html">{v}</div>')
                    elif mime == 'text/markdown':
                        n0 = len(self.headings)
                        h = md.render(escape_docstring(v), fix, self.headings)
                        m = re.search(r'```python\n(class|def|async def) ', v)
                        api.update(dict.fromkeys(range(n0, len(self.headings)), {'class': 'class', None: 'API'}.get(m and m[1], 'function')))
                        h = signature_lines(h)
                        h = _re_code_link.sub(lambda m: f'<a href="{html.escape(fix(html.unescape(m[2])))}">{m[1]}</a>', h)
                        cell.append(f'<div class="output markdown">{h}</div>')
                    elif mime == 'text/latex':
                        cell.append(f'<div class="output">{md.render(v, fix)}</div>')
                    else: cell.append(f'<pre class="output">{html.escape(v)}</pre>')
            if cell: parts.append('<div class="cell">' + ''.join(cell) + '</div>')
        body = self.unique_ids('\n'.join(parts), api, site.problems)
        cuts = [(m.start(), m[1]) for m in re.finditer(r'<h[23] id="([^"]+)"', body)]   # the sections search finds
        chunks = [body[a:b] for a, b in zip([0] + [c for c, _ in cuts], [c for c, _ in cuts] + [len(body)])]
        (self.desc_html, desc_text), (self.body, _), *rest = md.typeset(
            [desc, body, *(h for _, _, h in self.headings), *chunks], self.src.name)
        heads, texts = rest[:len(self.headings)], [t for _, t in rest[len(self.headings):]]
        self.headings = [(lvl, i, *ht) for (lvl, i, _), ht in zip(self.headings, heads)]  # (level, id, html, text)
        self.kinds = {self.headings[i][1]: k for i, k in api.items()}   # id -> what an API entry documents
        self.text = f'{desc_text} {texts[0]}'.strip()   # the page's text before its first section
        self.section_text = {i: t for (_, i), t in zip(cuts, texts[1:])}
        self.ids = set(re.findall(r'\bid="([^"]+)"', self.body))

    def unique_ids(self, body, api, problems):
        """`body` with one heading per id. A section and an API entry can share a slug (the section 'ReinMax' and
        class `ReinMax`), and so can two API entries (`Estimator` and `estimator`). An API entry keeps nbdev's id,
        where its doc links point; of two, the one named exactly so keeps it and the other takes its exact name
        (`fix_anchors` sends links by name); a section gets `-2`, `-3`, ... Updates `self.headings`."""
        tagged = [i for i, (_, hid, _) in enumerate(self.headings) if hid]
        found = list(re.finditer(r'<h[1-6] id="([^"]*)"', body))
        if [m[1] for m in found] != [self.headings[i][1] for i in tagged]:
            problems.add(self.src.name, 'headings and their ids disagree; duplicate ids left as they are'); return body
        name = lambda i: text_of(self.headings[i][2])
        new, taken = {}, set()
        for i in sorted(tagged, key=lambda i: (i not in api, name(i) != self.headings[i][1])):   # API first, exact names first
            hid = self.headings[i][1]
            if hid in taken and i in api and name(i) not in taken and re.fullmatch(r'[\w.]+', name(i)): hid = name(i)
            k = 2
            while hid in taken: hid, k = f'{self.headings[i][1]}-{k}', k + 1
            new[i] = hid; taken.add(hid)
        it = iter(tagged)
        body = re.sub(r'(<h[1-6] id=")[^"]*"', lambda m: f'{m[1]}{new[next(it)]}"', body)
        self.headings = [(lvl, new.get(i, hid), h) for i, (lvl, hid, h) in enumerate(self.headings)]
        return body


# ---------------------------------------------------------------- the site
TEMPLATE = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,"><meta name="description" content="{desc_attr}">
<link rel="stylesheet" href="{root}assets/katex/katex.min.css"><link rel="stylesheet" href="{root}assets/site.css"><script defer src="{root}assets/site.js"></script></head>
<body data-root="{root}">
<a class="skip" href="#content">Skip to content</a>
<header class="top"><a class="brand" href="{root}index.html">{site}</a>
<div class="search" role="search"><input id="search" type="search" placeholder="Search the docs" aria-label="Search" autocomplete="off"
 role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="search-results">
<ol id="search-results" role="listbox" aria-label="Search results" hidden></ol><p id="search-status" class="visually-hidden" aria-live="polite"></p></div><a class="repo" href="{git_url}">Source</a></header>
<div class="layout"><nav class="sidebar" aria-label="Pages">{sidebar}</nav>
<main id="content" tabindex="-1"><header class="title"><h1>{h1}</h1>{description}</header>
{body}
<nav class="pager">{pager}</nav></main>
<aside class="toc">{toc}</aside></div>
<footer>Built by <code>tools/build_docs.py</code> from <code>nbs/{src}</code>. {copyright}</footer>
</body></html>
'''


class Site:
    def __init__(self, nbs, out, problems):
        self.cfg, self.nbs, self.out, self.problems = get_config(), nbs, out, problems
        self.md = Markdown(problems)
        self.base = f"{self.cfg.doc_host.rstrip('/')}{self.cfg.doc_baseurl.rstrip('/')}/"
        self.pages = []

    def fix_url(self, url, page):
        "Links to the doc host or to notebooks become relative links; local images are copied into the site."
        if url.startswith(self.base): return page.root + url[len(self.base):]
        if re.match(r'^[a-z][\w+.-]*:|^#|^/', url): return url
        target, _, anchor = url.partition('#')
        p = (page.src.parent/target).resolve()
        nb = next((q for q in self.pages if q.src.resolve() == p), None)
        if nb: return page.root + nb.path.as_posix() + (f'#{anchor}' if anchor else '')
        if p.is_file():
            dst = self.out/p.relative_to(self.nbs.resolve())
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst)
        elif target: self.problems.add(page.src.name, f'link to a missing file: {url}')
        return url

    def sidebar(self, cur):
        """The sidebar's links, grouped by `GROUPS`. A group's name is a label (`<p class="group">` naming its list through
        `aria-labelledby`), not a heading: it comes before the page's `<h1>`. The current page's link has `aria-current`."""
        li = lambda current: '<li class=current>' if current else '<li>'
        here = lambda current: ' aria-current="page"' if current else ''
        res = []
        for k, (g, _) in enumerate(GROUPS):
            ps = [p for p in self.pages if p.group == g and p.path != Path('index.html')]
            if not ps: continue
            items = ''.join(f'{li(p is cur)}<a href="{cur.root}{p.path.as_posix()}"{here(p is cur)} '
                            f'title="{html.escape(p.title)}">{html.escape(p.label)}</a></li>' for p in ps)
            res.append(f'<p class="group" id="nav-group-{k}">{html.escape(g)}</p><ul aria-labelledby="nav-group-{k}">{items}</ul>')
        home = cur.path == Path('index.html')
        return f'<ul>{li(home)}<a href="{cur.root}index.html"{here(home)}>Home</a></li></ul>' + ''.join(res)

    def page_order(self):
        home = [p for p in self.pages if p.path == Path('index.html')]
        return home + [p for g, _ in GROUPS for p in self.pages if p.group == g and p not in home]

    def fix_anchors(self, p):
        """A doc link showing a name (`<code>Estimator</code>`) goes to the entry of exactly that name where one has
        it (see `Page.unique_ids`); a link to a method that has no `show_doc` of its own (`cls.meth`) goes to its
        class, else to the page."""
        def fix(m):
            q = next((q for q in self.pages if p.root + q.path.as_posix() == m[1]), None)
            if q is None: return m[0]
            shown = m[4] if m[4] and m[4].lower() == m[2].lower() else None
            go = next((a for a in (shown, m[2], shown and shown.rsplit('.', 1)[0], m[2].rsplit('.', 1)[0]) if a in q.ids), None)
            return f'href="{m[1]}' + (f'#{go}"' if go else '"') + (m[3] or '')
        p.body = re.sub(r'href="([^"#:]+\.html)#([^"]+)"(><code>([^<]+)</code>)?', fix, p.body)

    def write_page(self, p, prev, nxt):
        self.fix_anchors(p)
        toc = ''.join(f'<li class="l{lvl}"><a href="#{i}">{h}</a></li>'
                      for lvl, i, h, _ in p.headings if lvl in (2, 3) and i)
        link = lambda q, cls, arrow: (f'<a class="{cls}" href="{p.root}{q.path.as_posix()}">{arrow} '
                                      f'{html.escape(q.label)}</a>' if q else '<span></span>')
        page = TEMPLATE.format(
            title=html.escape(p.title if p.title == self.cfg.title else f'{p.title} – {self.cfg.title}'), h1=html.escape(p.title), site=html.escape(self.cfg.title), root=p.root, desc_attr=html.escape(p.description),
            git_url=html.escape(self.cfg.git_url), sidebar=self.sidebar(p), description=p.desc_html, body=p.body,
            pager=link(prev, 'prev', '←') + link(nxt, 'next', '→'), toc=f'<h2>On this page</h2><ul>{toc}</ul>' if toc else '',
            src=html.escape(p.src.relative_to(self.nbs).as_posix()), copyright=html.escape('© ' + self.cfg.copyright))
        (self.out/p.path).parent.mkdir(parents=True, exist_ok=True)
        (self.out/p.path).write_text(page, encoding='utf-8')

    def search_index(self):
        """One entry per section (a page's introduction, or an H2/H3 with what follows it): url, page title, heading,
        text, and for a `show_doc` entry its kind ('class', 'function')."""
        entries, cap = [], 6000   # characters of a section's text that search reads
        for p in self.pages:
            entries.append({'u': p.path.as_posix(), 't': p.title, 'h': '', 'x': p.text[:cap]})
            entries += [{'u': f'{p.path.as_posix()}#{i}', 't': p.title, 'h': text, 'x': p.section_text.get(i, '')[:cap],
                         **({'k': p.kinds[i]} if i in p.kinds else {})}   # k: an API entry's kind (a section has none)
                        for lvl, i, _, text in p.headings if lvl in (2, 3) and i]
        return 'window.SEARCH_INDEX = ' + json.dumps(entries, ensure_ascii=False, separators=(',', ':')) + ';\n'

    def write_assets(self):
        assets = self.out/'assets'
        assets.mkdir(parents=True, exist_ok=True)
        here = Path(__file__).parent/'docs_assets'
        css = (here/'site.css').read_text(encoding='utf-8') + '\n' + HtmlFormatter().get_style_defs('.highlight')
        (assets/'site.css').write_text(css, encoding='utf-8')
        shutil.copy2(here/'site.js', assets/'site.js')
        # KaTeX's stylesheet and the woff2 fonts it names (every browser that runs the site reads woff2)
        css = (KATEX/'dist'/'katex.min.css').read_text(encoding='utf-8')
        css = re.sub(r',\s*url\([^)]*\.(?:woff|ttf)\)\s*format\("(?:woff|truetype)"\)', '', css)
        (assets/'katex'/'fonts').mkdir(parents=True, exist_ok=True)
        (assets/'katex'/'katex.min.css').write_text(css, encoding='utf-8')
        for font in set(re.findall(r'url\((fonts/[^)]+\.woff2)\)', css)): shutil.copy2(KATEX/'dist'/font, assets/'katex'/font)
        shutil.copy2(KATEX/'LICENSE', assets/'katex'/'LICENSE')
        (assets/'search-index.js').write_text(self.search_index(), encoding='utf-8')
        (self.out/'.nojekyll').write_text('')


# ---------------------------------------------------------------- README (GitHub-flavoured markdown)
def readme(page, site):
    "GitHub-flavoured markdown of the processed index notebook; math stays `$...$` (GitHub renders it)."
    parts = [f'# {page.title}\n\n\n<!-- WARNING: THIS FILE WAS AUTOGENERATED FROM nbs/{page.src.name}! DO NOT EDIT! -->']
    if page.description: parts.append(f'> {page.description}')
    n_fig = 0
    for kind, opts, src, outputs in page.cells():
        if kind == 'markdown':
            if 'WARNING: THIS FILE WAS AUTOGENERATED' not in src: parts.append(src.strip())
            continue
        if src and opts.get('echo') != 'false': parts.append(f'```python\n{src}\n```')
        for o in outputs:
            t, data = o.get('output_type'), o.get('data', {})
            if t == 'stream': parts.append('    ' + stream_text(join(o['text'])).rstrip('\n').replace('\n', '\n    '))
            elif t in ('display_data', 'execute_result'):
                mime = next((m for m in MIME_ORDER if m in data), None)
                if mime and mime.startswith('image/'):
                    n_fig += 1  # the docs build wrote the same figures in the same order
                    ext = {'image/svg+xml': 'svg', 'image/png': 'png', 'image/jpeg': 'jpg'}[mime]
                    figs = [x for x in outputs if is_image(x)]
                    alt = figure_alt(opts, next(k for k, f in enumerate(figs) if f is o), len(figs)) or ''
                    alt = alt.replace('[', '(').replace(']', ')')
                    parts.append(f'![{alt}]({site.cfg.doc_path}/figures/index-{n_fig}.{ext})')
                elif mime in ('text/html', 'text/markdown'): parts.append(join(data[mime]).strip())
                elif mime: parts.append('    ' + join(data[mime]).rstrip('\n').replace('\n', '\n    '))
    return '\n\n'.join(parts) + '\n'


# ---------------------------------------------------------------- the catalogue
CATALOGUE_PAGE = 'catalogue.html'


def missing_cards(site):
    """Registered estimators without a card (`<div class="estimator-card" id="estimator-<name>">`) on the catalogue
    page; `None` when the site has no catalogue page (another notebook folder)."""
    page = next((p for p in site.pages if p.path.as_posix() == CATALOGUE_PAGE), None)
    if page is None: return None
    from sbn_estimators.estimators import ESTIMATORS, list_estimators
    list_estimators()
    cards = set(re.findall(r'<div class="estimator-card" id="estimator-(\w+)">', page.body))
    return [n for n in ESTIMATORS if n not in cards]


# ---------------------------------------------------------------- main
def build(nbs=None, out=None, readme_only=False, strict=False, workers=2):
    use_project_config(TOOLS.parent)   # run from outside the repository: the settings of the tool's own
    t0, cfg, problems = time.time(), get_config(), Problems()
    # document (and check the catalogue of) the package in this tree, not an installed copy of another checkout:
    # its root goes first on the path of this process and of the notebook workers
    root = str(Path(cfg.config_path).resolve())
    sys.path.insert(0, root)
    os.environ['PYTHONPATH'] = os.pathsep.join([root] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p and p != root])
    nbs = Path(nbs or cfg.config_path/cfg.nbs_path).resolve()
    default_out = out is None
    out = Path(out or cfg.config_path/cfg.doc_path).resolve()
    sources = sorted(nbglob(nbs, as_path=True))
    if readme_only: sources = [p for p in sources if p.name == cfg.readme_nb]
    if not sources: raise SystemExit(f'no notebooks found in {nbs}')
    katex_install()
    math_errors = []
    with tempfile.TemporaryDirectory() as tmp:
        done = process_notebooks(sources, nbs, Path(tmp), problems, workers)
        site = Site(nbs, out, problems)
        for src, proc in done.items():
            try: site.pages.append(Page(src, proc, nbs))
            except Exception as e: problems.add(src.name, f'not rendered: {type(e).__name__}: {e}')
        if not readme_only and out.exists():  # a clean site: nothing stale from renamed notebooks
            for c in out.iterdir(): shutil.rmtree(c) if c.is_dir() else c.unlink()
        out.mkdir(parents=True, exist_ok=True)   # --readme-only --out to a new folder too: README.md and the index's figures go there
        rendered = []
        for p in site.page_order():
            try: p.render(site, out); rendered.append(p)
            except MathError as e: math_errors.append(str(e))
            except Exception as e: problems.add(p.src.name, f'not rendered: {type(e).__name__}: {e}')
        if math_errors:
            raise SystemExit('build_docs: error: KaTeX cannot render these formulas (fix the notebook):\n' + '\n'.join(math_errors))
        site.pages = rendered
        if not readme_only:
            for i, p in enumerate(rendered):
                site.write_page(p, rendered[i-1] if i else None, rendered[i+1] if i+1 < len(rendered) else None)
            site.write_assets()
        missing = missing_cards(site)
        if missing is None and nbs == (cfg.config_path/cfg.nbs_path).resolve() and not readme_only:
            raise SystemExit(f'build_docs: error: the estimator catalogue ({CATALOGUE_PAGE}) was not rendered')
        if missing:
            raise SystemExit(f'build_docs: error: {CATALOGUE_PAGE} has no card for the registered estimator(s) '
                             f'{", ".join(missing)}: add them to CATALOGUE in nbs/90_catalogue.ipynb')
        index = next((p for p in rendered if p.src.name == cfg.readme_nb), None)
        if index is None: problems.add(cfg.readme_nb, 'missing: README.md not written')
        else: (cfg.config_path/'README.md' if default_out else out/'README.md').write_text(readme(index, site), encoding='utf-8')
    print(f'built {len(rendered)} of {len(sources)} pages into {out} in {time.time() - t0:.1f} s; {len(problems)} warning(s)')
    if strict and problems: raise SystemExit('--strict: ' + '; '.join(problems))
    return rendered, problems


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--readme-only', action='store_true', help='only write README.md from the readme notebook')
    ap.add_argument('--nbs', help='notebook folder (default: nbs_path of settings.ini); one outside the repository links the package with its settings.ini')
    ap.add_argument('--out', help='site folder, emptied first (default: doc_path of settings.ini); README.md goes there too')
    ap.add_argument('--strict', action='store_true', help='fail on any warning (unrendered math, failed show_doc, ...)')
    ap.add_argument('--workers', type=int, default=2, help='processes for nbdev processing')
    a = ap.parse_args()
    build(a.nbs, a.out, a.readme_only, a.strict, a.workers)
