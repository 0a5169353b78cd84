"Review s50, fix B2: `peak_step_memory` reads the CPU profiler's [memory] events in memory, not through a chrome-trace file in the temporary folder (a file-size limit or a full disk broke it), with the numbers of the trace."
import json, os, subprocess, sys, tempfile
import pytest
import torch
import sbn_estimators.bench as B


def _trace_peak(p) -> int:
    "The earlier method: the running sum of the chrome trace's [memory] events in time order."
    with tempfile.TemporaryDirectory() as d:
        p.export_chrome_trace(os.path.join(d, 't.json'))
        with open(os.path.join(d, 't.json')) as f: events = json.load(f)['traceEvents']
    peak = run = 0
    for e in sorted((e for e in events if e.get('name') == '[memory]'), key=lambda e: e['ts']):
        run += e['args']['Bytes']; peak = max(peak, run)
    return peak


def _steps():
    torch.manual_seed(0)
    a = torch.randn(300, 200, requires_grad=True)
    net, x, y = B.bench_problem('fc', 4)
    def mlp():
        net.zero_grad(set_to_none=True); B.estimator('st').surrogate(net, x, y).backward()
    def keep():   # allocations that outlive the step: the peak counts them
        global kept; kept = [torch.zeros(1000) for _ in range(5)]
    return dict(matmul=lambda: (a @ a.T).relu().sum().backward(), mlp=mlp, keep=keep, nothing=lambda: None,
                frees=lambda: [torch.ones(k * 100) for k in range(1, 30)])


@pytest.mark.parametrize('name', ['matmul', 'mlp', 'keep', 'nothing', 'frees'])
def test_same_numbers_as_the_chrome_trace(monkeypatch, name):
    torch.set_num_threads(1)
    seen = []
    class Recorded(B.profile):
        def __exit__(self, *exc):
            r = super().__exit__(*exc); seen.append(self); return r
    monkeypatch.setattr(B, 'profile', Recorded)
    peak = B.peak_step_memory(_steps()[name], 'cpu')
    assert peak == _trace_peak(seen[0]) and (peak > 0) == (name != 'nothing')


def test_no_file_is_written_under_a_file_size_limit():
    "`ulimit -f 1`: the trace file could not be written (FileNotFoundError or a JSONDecodeError before)."
    code = ("import resource, torch; resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)); from sbn_estimators.bench import peak_step_memory; "
            "a = torch.randn(100, 100, requires_grad=True); print(peak_step_memory(lambda: (a @ a).sum().backward(), 'cpu'))")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0, p.stderr[-2000:]
    assert int(p.stdout.split()[-1]) >= 100 * 100 * 4
