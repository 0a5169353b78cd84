"""Run notebooks in place so that the docs show their current outputs (the docs build renders stored outputs; it runs
only the cells nbdev runs for `show_doc`). Cells flagged `#| slow` or `#| cuda` are not run and keep what they stored:
their runs take hours or a GPU. In a notebook that has such cells, a later cell that fails (it may need what they
computed) also keeps its stored outputs and is reported; anywhere else a failing cell stops the script.

    .venv/bin/python tools/run_pages.py                 # every notebook in nbs/
    .venv/bin/python tools/run_pages.py nbs/20_*.ipynb  # some
    .venv/bin/python tools/run_pages.py --stale         # those whose code changed since they last ran

It records in nbs/_pages_ran.json a digest of the code each page ran; a test compares it with the pages' code, so
a page changed but not rerun fails the tests. Then `nbdev_clean` the notebooks, as before any commit."""
import argparse, copy, hashlib, json, os, re, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

SKIP = re.compile(r'^#\|\s*(slow|cuda)\b', re.M)
ALT = re.compile(r'#\|[ \t]*fig-alt[ \t]*:')   # a figure's description for the docs: it changes nothing that runs
NOISE = re.compile(r'^(USDT:.*SyncActivityProfilerHandler|\[W\d+ .*CPUAllocator\.cpp).*\n?', re.M) # torch's profiler logging to stderr on this machine
NBS = Path(__file__).resolve().parent.parent / 'nbs'
RECORD = NBS / '_pages_ran.json'


def skipped(cell) -> bool:
    "A code cell flagged `#| slow` or `#| cuda`."
    return cell.cell_type == 'code' and bool(SKIP.search(cell.source))


def quiet(cell):
    "Drop the profiler's log lines (not the page's output) from the cell's stderr."
    for o in cell.outputs:
        if o.output_type == 'stream' and o.name == 'stderr': o.text = NOISE.sub('', o.text)
    cell.outputs = [o for o in cell.outputs if not (o.output_type == 'stream' and not o.text)]


def without_alt(source:str) -> str:
    "`source` less the `#| fig-alt:` lines of its leading option block (lines further down are code, e.g. inside a string)."
    lines = source.split('\n')
    n = next((i for i, l in enumerate(lines) if not l.startswith('#|')), len(lines))
    return '\n'.join([l for l in lines[:n] if not ALT.match(l)] + lines[n:])


def digest(path:Path) -> str:
    "SHA-1 of the code that `run_page` runs in `path` (its code cells, less the skipped ones and `#| fig-alt:` lines), in order."
    nb = nbformat.read(path, as_version=4)
    code = [without_alt(c.source) for c in nb.cells if c.cell_type == 'code' and not skipped(c)]
    return hashlib.sha1('\0'.join(code).encode()).hexdigest()


def stale_pages(nbs:Path=NBS, record:Path=None) -> list:
    "Names of the notebooks in `nbs` whose code differs from the code they last ran, by the record."
    record = record or nbs / RECORD.name
    ran = json.loads(record.read_text()) if record.is_file() else {}
    return [p.name for p in sorted(nbs.glob('[!_]*.ipynb')) if ran.get(p.name) != digest(p)]


def _record(path:Path):
    record = path.parent / RECORD.name
    ran = json.loads(record.read_text()) if record.is_file() else {}
    ran[path.name] = digest(path)
    record.write_text(json.dumps(dict(sorted(ran.items())), indent=1) + '\n')


def run_page(path:Path) -> list:
    "Execute `path` in place, its folder as working directory; returns `(id, error)` of each cell that failed and kept its outputs."
    nb = nbformat.read(path, as_version=4)
    tolerant = any(skipped(c) for c in nb.cells)
    client = NotebookClient(nb, timeout=-1, kernel_name='python3', coalesce_streams=True, resources={'metadata': {'path': str(path.parent)}},
                            extra_arguments=['--IPKernelApp.exec_lines=["%matplotlib inline"]'])   # a returned `Figure` shows as an image
    kept = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code' or skipped(cell): continue
            stored = copy.deepcopy(cell.outputs)
            try: client.execute_cell(cell, i); quiet(cell)
            except CellExecutionError as e:
                if not tolerant: raise SystemExit(f"{path.name}: cell {cell.get('id')} failed:\n{str(e)[-3000:]}") from None
                cell.outputs = stored
                kept.append((cell.get('id'), f"{e.ename}: {e.evalue}"[:200]))
    nbformat.write(nb, path)
    _record(path)
    return kept


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='notebooks to run (default: every one in nbs/)')
    p.add_argument('--stale', action='store_true', help='run only the notebooks whose code changed since they last ran')
    args = p.parse_args(argv)
    if args.stale and args.notebooks: p.error('give notebooks or --stale, not both')
    os.environ.setdefault('OMP_NUM_THREADS', '1')   # small tensors on a shared CPU: one thread is fastest
    paths = [NBS / n for n in stale_pages()] if args.stale else args.notebooks or sorted(NBS.glob('[!_]*.ipynb'))
    if not paths: print('every page ran its current code')
    for path in paths:
        kept = run_page(path.resolve())
        print(f"{path.name}: ran" + (f"; kept the stored outputs of {len(kept)} failed cell(s); a failure that is not for want of "
                                     "what a skipped cell computes is a bug:" if kept else ''), flush=True)
        for cid, err in kept: print(f"  cell {cid}: {err}", flush=True)


if __name__ == '__main__': main(sys.argv[1:])
