"`sbn-bench`: listing, bad usage refused before any work (one line, exit 2), the table and the JSON lines."
import json, os, signal, subprocess, sys
import pytest
import torch
from sbn_estimators.bench import bench_cli, bench_table

def run(*args):
    return subprocess.run([sys.executable, '-c', 'from sbn_estimators.bench import bench_cli; bench_cli()', *args],
                          capture_output=True, text=True, timeout=600)

def test_list():
    p = run('--list')
    assert p.returncode == 0, p.stderr
    assert 'fc ' in p.stdout and 'cifar ' in p.stdout and 'psa' in p.stdout and 'float' in p.stdout

@pytest.mark.parametrize('args, message', [
    (['--threads', '0'], "argument --threads: must be a positive integer, got '0'"),
    (['--batch', '-1'], "argument --batch: must be a positive integer"),
    (['--nets', 'lenet'], "--nets: unknown network 'lenet'; valid: fc, cifar"),
    (['--estimators', 'nope'], "unknown estimator 'nope'"),
    (['--devices', 'meta'], "--devices: 'meta' is not supported; valid: cpu, cuda"),
    (['--json', os.path.join('no', 'such', 'folder', 'r.jsonl')], "--json: folder"),
    (['--dtype', 'float16'], "argument --dtype: invalid choice: 'float16'"),
    (['--estimators', ''], "--estimators: no estimator given"),
    (['--nets', ''], "--nets: got '', an empty list"),
    (['--devices', ''], "--devices: got '', an empty list"),
    (['--estimators', 'st,st'], "--estimators: 'st' is given twice in 'st,st'"),
    (['--nets', 'fc,fc'], "--nets: 'fc' is given twice in 'fc,fc'"),
    (['--devices', 'cpu,cpu'], "--devices: 'cpu' is given twice in 'cpu,cpu'"),
    (['--estimators', 'st,identity_st,identity_st:noise=logistic'], "--estimators: 'identity_st' and 'identity_st:noise=logistic' are the same estimator (identity_st); give each once"),
    (['--estimators', 'float,st,mean_field'], "--estimators: 'float' and 'mean_field' are the same estimator (mean_field); give each once"),
    (['--estimators', 'float:noise=normal'], "float is the float-network baseline; it takes no parameters"),
    (['--estimators', 'st:noise=normal'], "--estimators: estimator 'st' assumes normal noise but the network has logistic noise"),
    (['--estimators', 'exact', '--nets', 'fc'], "'exact' enumerates every binary state; network 'fc' (binary layer widths [512, 512]) is far too large to enumerate"),
    (['--estimators', 'exact', '--nets', 'cifar'], "network 'cifar' (binary layer widths [86400,"),
    (['--estimators', 'reste:o=3,tt=1.5'], "estimator 'reste' has no parameter tt"),
    (['--json', ''], "--json: an empty path; give a file name"),
    (['--devices', 'cpu:1'], "--devices: 'cpu:1': the CPU takes no index; give cpu"),
])
def test_bad_usage_one_line_exit_2(args, message):
    p = run(*args)
    assert p.returncode == 2 and p.stdout == ''
    assert p.stderr.count('\n') == 1 and p.stderr.startswith('sbn-bench: error:') and message in p.stderr, p.stderr   # refused before any child ran

def test_help_says_what_json_holds_and_that_it_replaces_the_file():
    p = run('--help')
    assert p.returncode == 0, p.stderr
    assert 'one JSON line per estimator and case to this file, replaced if it exists' in ' '.join(p.stdout.split())

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda():
    p = run('--devices', 'cuda', '--nets', 'fc')
    assert p.returncode == 2 and p.stderr.strip() == "sbn-bench: error: --devices: 'cuda' asked for but CUDA is not available"

def test_json_lines_and_table(tmp_path):
    out = tmp_path / 'b.jsonl'
    p = run('--nets', 'fc', '--devices', 'cpu', '--estimators', 'st,float', '--batch', '16', '--repeats', '1',
            '--threads', '1', '--json', str(out))
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r['estimator'] for r in rows] == ['st', 'float'] and rows[0]['time_ratio_to_st'] == 1.0
    assert all(r['threads'] == 1 and r['batch'] == 16 and r['peak_mem_mib'] > 0 and r['warmup_seconds'] > 0 for r in rows)
    assert all(r['environment']['threads'] == 1 and r['environment']['torch'] == torch.__version__ and 'sbn_estimators' in r['environment'] for r in rows)
    assert p.stdout.splitlines()[0].split()[:5] == ['net', 'device', 'batch', 'thr', 'estimator']
    assert bench_table(rows).splitlines()[1].split()[:5] == ['fc', 'cpu', '16', '1', 'st']


def test_multi_parameter_spec(tmp_path):
    "`--estimators` is parsed by `parse_estimator_specs`: 'reste:o=3,t=1.5' is one estimator with two parameters."
    out = tmp_path / 'b.jsonl'
    p = run('--nets', 'fc', '--devices', 'cpu', '--estimators', 'st, reste:o=3,t=1.5', '--batch', '4', '--repeats', '1',
            '--threads', '1', '--json', str(out))
    assert p.returncode == 0, p.stderr
    assert [json.loads(l)['estimator'] for l in out.read_text().splitlines()] == ['st', 'reste:o=3,t=1.5']


STALL = '''
import time
from sbn_estimators.estimators import register_estimator
from sbn_estimators.straight_through import ST

@register_estimator('stall_on_images')
class StallOnImages(ST):
    "ST that never finishes a step on images (the cifar case), so that a test can interrupt sbn-bench there."
    def surrogate(self, net, x, y, params=None):
        if x.dim() == 4: time.sleep(600)
        return super().surrogate(net, x, y, params)
'''


@pytest.mark.skipif(os.name != 'posix', reason="POSIX signals and process groups")
@pytest.mark.parametrize('how', ['ctrl-c', 'sigterm'])
def test_interrupted_run_keeps_and_shows_its_finished_rows(tmp_path, how):
    "Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to sbn-bench alone, during the second case."
    (tmp_path / 'stall.py').write_text(STALL)
    out = tmp_path / 'b.jsonl'
    args = ['--nets', 'fc,cifar', '--devices', 'cpu', '--estimators', 'st,stall_on_images', '--batch', '4', '--repeats', '3',
            '--threads', '1', '--plugins', str(tmp_path / 'stall.py')] + (['--json', str(out)] if how == 'ctrl-c' else [])
    p = subprocess.Popen([sys.executable, '-c', 'from sbn_estimators.bench import bench_cli; bench_cli()', *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as from a terminal, whatever pytest inherited
    try:
        assert p.stderr.readline() == 'sbn-bench: fc on cpu ...\n'
        assert p.stderr.readline() == 'sbn-bench: cifar on cpu ...\n'   # fc's rows are done: the cifar case stalls
        if how == 'ctrl-c': os.killpg(p.pid, signal.SIGINT)
        else: p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        try: os.killpg(p.pid, signal.SIGKILL)   # whatever is left of the group, the stalled case included
        except ProcessLookupError: pass
    assert p.returncode == (130 if how == 'ctrl-c' else 143), stderr
    table = stdout.splitlines()
    assert table[0].split()[:5] == ['net', 'device', 'batch', 'thr', 'estimator'] and len(table) == 4, stdout
    assert [l.split()[:5] for l in table[1:3]] == [['fc', 'cpu', '4', '1', 'st'], ['fc', 'cpu', '4', '1', 'stall_on_images']]
    if how == 'ctrl-c':
        rows = [json.loads(l) for l in out.read_text().splitlines()]
        assert [(r['net'], r['estimator']) for r in rows] == [('fc', 'st'), ('fc', 'stall_on_images')]
        assert stderr == f"sbn-bench: 1 of 2 cases finished (fc on cpu); their 2 rows are in {out}\nsbn-bench: interrupted\n"
    else:
        assert stderr == ("sbn-bench: 1 of 2 cases finished (fc on cpu); their table is above (--json FILE.jsonl would keep the rows)\n"
                          "sbn-bench: terminated (SIGTERM)\n")

def test_step_time_is_the_median_of_the_rounds_without_the_warmup(monkeypatch):
    "A slow warm-up and one slow round move neither the reported step time (the median of the timed rounds) nor each other."
    import types
    import sbn_estimators.bench as B
    clock = iter([0, 100, 0, 1, 0, 2, 0, 30])   # start/end of each timed step: warm-up 100 s, then rounds of 1, 2 and 30 s
    monkeypatch.setattr(B, 'time', types.SimpleNamespace(perf_counter=lambda: next(clock)))
    r, = B.run_cases('fc', ['st'], batch=2, repeats=3, threads=1)
    assert (r['seconds'], r['warmup_seconds']) == (2, 100)   # a mean would give 11, counting the warm-up 16

def test_table_shows_step_time_in_ms():
    row = dict(net='fc', device='cpu', batch=128, threads=1, estimator='st', seconds=0.0123, time_ratio_to_st=1.0,
               peak_mem_mib=5.0, mem_ratio_to_st=1.0, warmup_seconds=0.5)
    head, line = bench_table([row]).splitlines()[:2]
    assert line.split()[head.split().index('step')] == '12.3', line


def test_memory_in_mib_and_ratios_to_st(monkeypatch):
    "peak_mem_mib is bytes / 2**20; each ratio is the estimator's measure over ST's, also when ST is given by its alias dst."
    import sbn_estimators.bench as B
    mem = iter([2 * 2 ** 20, 6 * 2 ** 20])   # the peak memory of dst, then of psa
    monkeypatch.setattr(B, 'peak_step_memory', lambda step, device: next(mem))
    st, psa = B.run_cases('fc', ['dst', 'psa'], batch=2, repeats=1, threads=1)
    assert (st['peak_mem_mib'], psa['peak_mem_mib']) == (2.0, 6.0)
    assert (st['time_ratio_to_st'], st['mem_ratio_to_st'], psa['mem_ratio_to_st']) == (1.0, 1.0, 3.0)
    assert psa['time_ratio_to_st'] == psa['seconds'] / st['seconds']


def test_table_ratio_columns_follow_their_measures():
    "The first 'x st' column is the step-time ratio, the second the peak-memory ratio."
    row = dict(net='fc', device='cpu', batch=128, threads=1, estimator='psa', seconds=0.03, time_ratio_to_st=3.0,
               peak_mem_mib=10.0, mem_ratio_to_st=2.0, warmup_seconds=0.5)
    head, line = bench_table([row]).splitlines()[:2]
    assert head.split()[5:15] == ['step', 'ms', 'x', 'st', 'peak', 'MiB', 'x', 'st', 'warm-up', 's'] and line.split()[5:9] == ['30.0', '3.00', '10.0', '2.00'], line


def test_default_batch_sizes():
    "The batch sizes BENCH_NETS states: fc 128, cifar 8 on CPU."
    from sbn_estimators.bench import bench_problem
    assert (len(bench_problem('fc')[1]), len(bench_problem('cifar')[1])) == (128, 8)


def test_zero_repeats_refused():
    "--repeats 0 would time nothing: refused as a usage error like the other counts, before any child runs."
    p = run('--repeats', '0', '--nets', 'fc', '--devices', 'cpu', '--estimators', 'st', '--batch', '2', '--threads', '1')
    assert p.returncode == 2 and p.stdout == ''
    assert p.stderr.strip() == "sbn-bench: error: argument --repeats: must be a positive integer, got '0'", p.stderr


def test_json_to_stdout_is_only_json_lines():
    "--json -: standard output holds one JSON object per case and estimator, and nothing else (no table), for piping."
    p = run('--nets', 'fc', '--devices', 'cpu', '--estimators', 'st,float', '--batch', '4', '--repeats', '1', '--threads', '1', '--json', '-')
    assert p.returncode == 0, p.stderr
    assert [json.loads(l)['estimator'] for l in p.stdout.splitlines()] == ['st', 'float']
