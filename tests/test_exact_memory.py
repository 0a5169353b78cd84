"""The memory estimate of exact enumeration against the peak memory the enumeration allocates, measured in a separate
process by the allocator's own events (`bench.peak_step_memory`): the estimate must not be below what enumeration takes
(else the limit would not protect) and not far above it (else it would refuse networks that fit). The allocator's count,
not the resident set: resident memory also moves with library pages and the kernel's reclaim, by hundreds of MB in a
long test run."""
import json, subprocess, sys
import pytest, torch
from conftest import ROOT

MEASURE = r"""
import json, sys, torch
torch.set_num_threads(1)
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.exact import exact_loss, exact_memory
from sbn_estimators.bench import peak_step_memory
sizes, batch, grad, loss, dtype = json.loads(sys.argv[1])
dtype = getattr(torch, dtype)
g = torch.Generator().manual_seed(0)
net = SBNMLP(sizes, loss=loss, dtype=dtype)
x = torch.randn(batch, sizes[0], dtype=dtype, generator=g)
y = (torch.randint(0, sizes[-1], (batch,), generator=g) if loss == 'cross_entropy'
     else torch.randint(0, 2, (batch, sizes[-1]), generator=g).to(dtype) * 2 - 1)
def step():
    with torch.set_grad_enabled(grad):
        out = exact_loss(net, x, y, max_bytes=float('inf'))
        if grad: out.backward()
print(json.dumps(dict(measured=peak_step_memory(step, 'cpu'), estimate=exact_memory(net, batch, grad))))
"""

CASES = [  # (sizes, examples, gradients, loss, dtype): each peaks between 0.2 and 1.7 GB
    ([2, 14, 1], 2000, True, 'logistic', 'float64'),
    ([2, 11, 11, 1], 4000, True, 'logistic', 'float64'),
    ([2, 12, 12, 1], 4, True, 'logistic', 'float64'),
    ([2, 12, 10], 2000, True, 'cross_entropy', 'float64'),
    ([2, 16, 1], 200, False, 'logistic', 'float64'),
    ([2, 13, 13, 1], 4, True, 'logistic', 'float64'),
    ([2, 11, 11, 11, 2], 4000, True, 'logistic', 'float32'),
    ([2, 15, 1], 1000, True, 'logistic', 'float32'),
    ([2, 14, 100], 1000, False, 'cross_entropy', 'float64'),   # cross-entropy's table is [2^n_L, b] without a backward pass:
    ([2, 14, 4], 1000, False, 'cross_entropy', 'float64'),     # these were estimated at 80 and 3.7 times what they take
    ([2, 12, 100], 1000, False, 'logistic', 'float64'),        # wide heads: chunks of about 2^24 / (2^n_L m) examples
    ([2, 12, 100], 1000, True, 'cross_entropy', 'float64'),
]


def measure(case):
    r = subprocess.run([sys.executable, '-c', MEASURE, json.dumps(case)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize('case', CASES, ids=[f"{'-'.join(map(str, c[0]))}x{c[1]}{'' if c[2] else '-nograd'}-{c[4]}" for c in CASES])
def test_estimate_bounds_measured_peak(case):
    m = measure(case)
    ratio = m['measured'] / m['estimate']
    print(f"{case}: measured {m['measured'] / 1e9:.3f} GB, estimate {m['estimate'] / 1e9:.3f} GB, ratio {ratio:.2f}")
    # never below what it takes; not so pessimistic that a fitting case is refused (the old estimates were 3.7 and 80
    # times the peak); 0.4, not 0.5: float32 at 2-11-11-11 measures 0.58 here, and a profiled peak once read low in CI
    assert 0.4 <= ratio <= 1.0, (case, m, ratio)



def test_default_limit_is_the_fraction_of_available_memory(monkeypatch):
    "Without SBN_EXACT_MAX_BYTES the limit is EXACT_MEMORY_FRACTION of what `available_memory` reports (the fallback if unknown)."
    from sbn_estimators import exact
    monkeypatch.delenv('SBN_EXACT_MAX_BYTES', raising=False)
    seen = []
    def avail(device=None): seen.append(device); return 10 ** 10 + 1
    monkeypatch.setattr(exact, 'available_memory', avail)
    assert exact.exact_memory_limit() == int(exact.EXACT_MEMORY_FRACTION * (10 ** 10 + 1)) < 10 ** 10
    assert exact.exact_memory_limit('cpu') == int(exact.EXACT_MEMORY_FRACTION * (10 ** 10 + 1)) and seen == [None, 'cpu']
    monkeypatch.setattr(exact, 'available_memory', lambda device=None: None)
    assert exact.exact_memory_limit() == exact.EXACT_FALLBACK_BYTES
    monkeypatch.setenv('SBN_EXACT_MAX_BYTES', '3e9')
    assert exact.exact_memory_limit() == 3 * 10 ** 9


def test_gpu_memory_counts_the_allocators_unused_blocks(monkeypatch):
    "On a GPU, memory PyTorch's caching allocator reserved but does not use is available too (mem_get_info counts it as used)."
    from sbn_estimators.exact import available_memory
    monkeypatch.setattr(torch.cuda, 'mem_get_info', lambda device=None: (10 ** 9, 8 * 10 ** 9))
    monkeypatch.setattr(torch.cuda, 'memory_reserved', lambda device=None: 5 * 10 ** 9)
    monkeypatch.setattr(torch.cuda, 'memory_allocated', lambda device=None: 2 * 10 ** 9)
    assert available_memory('cuda') == available_memory('cuda:0') == 4 * 10 ** 9

def test_container_limit_caps_available_memory(monkeypatch):
    "On Linux the host's MemAvailable and a cgroup v2 container's memory.max - memory.current: the smaller one counts."
    import io
    from sbn_estimators import exact
    files = {'/sys/fs/cgroup/memory.max': '4000000000\n', '/sys/fs/cgroup/memory.current': '1000000000\n'}
    class FakePath(type(exact.Path())):
        def read_text(self, *a, **k):
            if str(self) not in files: raise FileNotFoundError(str(self))
            return files[str(self)]
    monkeypatch.setattr(exact, 'Path', FakePath)
    meminfo = lambda kb: (lambda name, *a, **k: io.StringIO(f"MemTotal: 99999999 kB\nMemAvailable: {kb} kB\n"))
    monkeypatch.setattr(exact, 'open', meminfo(8_000_000), raising=False)              # host: 8.192 GB available
    assert exact.available_memory() == 3 * 10 ** 9                                     # the container has 3 GB left
    monkeypatch.setattr(exact, 'open', meminfo(2_000_000), raising=False)              # host: 2.048 GB available
    assert exact.available_memory() == 2_048_000_000
    files['/sys/fs/cgroup/memory.max'] = 'max\n'                                       # no container limit
    monkeypatch.setattr(exact, 'open', meminfo(8_000_000), raising=False)
    assert exact.available_memory() == 8_192_000_000


if __name__ == '__main__':
    for c in CASES:
        m = measure(c)
        print(c, f"measured {m['measured'] / 1e9:.3f} GB  estimate {m['estimate'] / 1e9:.3f} GB  ratio {m['measured'] / m['estimate']:.2f}", flush=True)

