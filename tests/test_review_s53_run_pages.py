"""Review s53: in a page with skipped (`#| slow`) cells, `tools/run_pages.py` keeps the stored outputs of a later cell that fails;
it now says why each failed, so a failure that has nothing to do with the skipped cells (a lesson that replaced a name the
page uses later) is not mistaken for one that needs them."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import run_pages


def test_kept_cells_say_why_they_failed(tmp_path, capsys):
    code = lambda i, s: {'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'source': s}
    nb = {'cells': [code(0, '#| slow\nslow_result = 1'), code(1, 'x = 2'), code(2, 'y = undefined_name + x')],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}
    page = tmp_path/'page.ipynb'
    page.write_text(json.dumps(nb))
    run_pages.main([str(page)])
    out = capsys.readouterr().out
    assert "kept the stored outputs of 1 failed cell(s)" in out, out
    assert "cell c2: NameError: name 'undefined_name' is not defined" in out, out
