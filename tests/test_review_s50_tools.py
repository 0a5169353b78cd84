"Review s50: `tools/build_docs.py --readme-only --out` to a folder that does not exist yet writes the README there (it raised FileNotFoundError)."
import subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from test_docs import needs_node

@needs_node
def test_readme_only_into_a_new_folder(tmp_path):
    out = tmp_path/'new'/'site'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--readme-only', '--out', str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out/'README.md').read_text(encoding='utf-8') == (ROOT/'README.md').read_text(encoding='utf-8')
