"Every paper an estimator's catalogue card cites is linked from the page that derives the estimator, read from the notebooks' markdown (not the built docs)."
import inspect, json, re
from pathlib import Path
from conftest import ROOT
from sbn_estimators.catalogue import CATALOGUE, REFERENCES
from sbn_estimators.estimators import ESTIMATORS, list_estimators


def page_of(cls) -> Path:
    "The notebook whose cell exports `cls`: the `# %% ../nbs/NAME.ipynb #id` marker nbdev writes above that cell in the module."
    lines = Path(inspect.getsourcefile(cls)).read_text().splitlines()
    for line in reversed(lines[:inspect.getsourcelines(cls)[1]]):
        m = re.match(r'# %% \.\./nbs/(\S+\.ipynb)', line)
        if m: return ROOT / 'nbs' / m.group(1)
    raise AssertionError(f'{cls.__qualname__}: no notebook marker above it in {inspect.getsourcefile(cls)}')


def linked(markdown:str, key:str) -> bool:
    "Whether `markdown` links the paper `key`: its anchor on the references page, or the paper's own address."
    return (re.search(rf'\]\((?:99_references\.ipynb|references\.html)#ref-{re.escape(key)}\)', markdown) is not None
            or f']({REFERENCES[key][3]})' in markdown)


def test_card_refs_are_linked_from_the_estimators_page():
    list_estimators()
    missing = []
    for name, entry in CATALOGUE.items():
        page = page_of(ESTIMATORS[name])
        md = '\n'.join(''.join(c['source']) for c in json.loads(page.read_text())['cells'] if c['cell_type'] == 'markdown')
        missing += [f'{name}: {page.name} does not link {k} ({REFERENCES[k][0]}, {REFERENCES[k][2]})' for k in entry['refs'] if not linked(md, k)]
    assert not missing, 'papers a catalogue card cites that its derivation page never links:\n' + '\n'.join(missing)


def test_linked_accepts_an_anchor_or_the_address():
    key = 'dong2020disarm'
    assert linked(f'DisARM ([Dong et al., 2020](99_references.ipynb#ref-{key}))', key)
    assert linked(f'[arXiv:2006.10680]({REFERENCES[key][3]})', key)
    assert not linked('DisARM (Dong et al., 2020)', key) and not linked(f'[x](99_references.ipynb#ref-{key}x)', key)
