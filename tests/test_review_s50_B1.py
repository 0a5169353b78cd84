"Review s50, fix B1: `sbn-bench --json FILE` holds a lock on FILE (a second run: one line, exit 2) and rewrites it atomically after each case (only whole lines of one run, even when a write fails midway)."
import json, os, socket, subprocess, sys
from pathlib import Path

# sbn-bench with each case's process replaced by canned rows (two per case, ~1 KB each), under a file-size limit that
# lets the first case's rows be written and stops the second case's write midway (as a kill mid-write would)
CANNED = r'''
import json, resource, sys
import sbn_estimators.bench as B
def rows(kw):
    return [dict(net=kw['net'], estimator=s, device=kw['device'], batch=2, dtype='float32', repeats=3, threads=1, seconds=0.001,
                 warmup_seconds=0.01, peak_mem_mib=1.0, environment={}, seconds_min=0.001, seconds_iqr=0.0, params={},
                 time_ratio_to_st=1.0, mem_ratio_to_st=1.0, pad='x' * 1000) for s in kw['specs']]
B._child_cases = rows
limit = int(sys.argv[1])
if limit: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ['sbn-bench', *sys.argv[2:]]
B.bench_cli()
'''
ARGS = ['--nets', 'fc,cifar', '--devices', 'cpu', '--estimators', 'float,st', '--repeats', '3', '--threads', '1']


def _bench(tmp_path, limit, *args):
    (tmp_path / 'canned.py').write_text(CANNED)
    return subprocess.run([sys.executable, str(tmp_path / 'canned.py'), str(limit), *ARGS, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_a_second_run_on_the_same_json_is_refused(tmp_path):
    "A lock held by a live process on the same host (this one): one line naming it, exit 2, the file untouched."
    out = tmp_path / 'b.jsonl'
    out.write_text('{"old": 1}\n')
    (tmp_path / '.b.jsonl.lock').write_text(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(), started='then')))
    p = _bench(tmp_path, 0, '--json', 'b.jsonl')
    assert p.returncode == 2, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('sbn-bench: error: b.jsonl is in use by process ') and str(os.getpid()) in lines[0], p.stderr
    assert out.read_text() == '{"old": 1}\n' and p.stdout == ''


def test_the_file_holds_only_whole_lines_of_one_run_when_a_write_fails_midway(tmp_path):
    "The old code appended each case's rows to the file: a write stopped midway left a torn line; now the file holds the finished case's rows."
    out = tmp_path / 'b.jsonl'
    full = _bench(tmp_path, 0, '--json', 'b.jsonl')
    assert full.returncode == 0, full.stderr
    rows = out.read_text().splitlines()
    assert len(rows) == 4 and not (tmp_path / '.b.jsonl.lock').exists()
    first = ''.join(l + '\n' for l in rows[:2])
    p = _bench(tmp_path, len(first) + 500, '--json', 'b.jsonl')   # room for the first case's rows, not for all four
    assert p.returncode != 0
    assert out.read_text() == first, out.read_text()[-200:]
    for l in out.read_text().splitlines(): json.loads(l)


def test_stale_temporaries_of_the_file_are_removed_and_no_others(tmp_path):
    "A temporary a killed run left of b.jsonl is removed by the next run, with a note; another file's is kept."
    dead = subprocess.Popen([sys.executable, '-c', 'pass']); dead.wait()
    mine, other = tmp_path / f'.b.jsonl.{dead.pid}.tmp', tmp_path / f'.c.jsonl.{dead.pid}.tmp'
    mine.write_text('{"half'); other.write_text('{"half')
    p = _bench(tmp_path, 0, '--json', 'b.jsonl')
    assert p.returncode == 0, p.stderr
    assert not mine.exists() and other.exists()
    assert f"note: removed {mine.name}, left half-written by a process that no longer runs" in p.stderr
    assert len((tmp_path / 'b.jsonl').read_text().splitlines()) == 4
