"""Our PSA against the PSA paper's own implementation (github.com/shekhovt/PSA-Neurips2020), side by side.

    python tools/psa_reference_bench.py PATH_TO_CHECKOUT [--threads 1] [--repeats 7]

The reference is imported from a checkout given on the command line (it is never copied into this repository);
only its fully connected PSA functions are used (`models/sah_functions.py`: `linear_binary_inner_SAH`,
`binary_out_SAH_vec`, and `models/losses.py`: `obj_nll`), which run on CPU. Its CUDA conv extension is not
needed and is replaced by a stub at import.

1. Agreement, before any timing:
   a. same samples -> same gradient: the reference samples a path; ours is given the same states
      (`psa_loss(..., states=)`) and must produce the same surrogate value and gradient (float64, 1e-9 relative);
   b. same distribution: mean gradients over independent samples of each code, each sampling itself, agree by a
      two-sample z-test with a Bonferroni threshold (`sbn_estimators.stats.z_threshold`, Student's t at S - 1 degrees
      of freedom for S samples of each code: both variances are estimated, and Welch's degrees of freedom are at least that).
2. Timing: one training step (surrogate + backward) of the FC SBN 784-512-512-10, cross-entropy, batch 128,
   float32, both codes interleaved in this process; medians.
"""
import argparse, importlib, math, os, statistics, sys, time, types
import torch
from sbn_estimators.sbn import SBNMLP
from sbn_estimators.psa import psa_loss
from sbn_estimators.stats import z_threshold


def load_reference(path):
    "The reference's FC PSA functions and its cross-entropy objective, imported from the checkout at `path`."
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, 'models', 'sah_functions.py')):
        sys.exit(f"psa_reference_bench: error: {path} is not a checkout of shekhovt/PSA-Neurips2020 (no models/sah_functions.py)")
    stub = types.ModuleType('extensions')          # the CUDA conv op: unused by fully connected layers
    stub.ratio_conv2d_backward = None
    sys.modules['extensions'] = stub
    pkg = types.ModuleType('models')               # the package without its __init__ (which needs scipy and more)
    pkg.__path__ = [os.path.join(path, 'models')]
    sys.modules['models'] = pkg
    sys.path.insert(0, path)
    return importlib.import_module('models.sah_functions'), importlib.import_module('models.losses')


def reference_surrogate(sah, losses, params, x, y):
    "The reference's PSA surrogate (mean over the batch) and its sampled states."
    (W, b), *rest = params
    *hidden, (V, c) = params
    h, q, states = x, None, []
    for k, (W, b) in enumerate(hidden):
        out = sah.linear_binary_inner_SAH(h, q, W, b, last_binary=k == len(hidden) - 1)
        h, q = out[0], out[1]
        states.append(h)
    E = sah.binary_out_SAH_vec(h, q, out[2], V, c, lambda a: losses.obj_nll(a, y))
    return E.mean(), states


def grads(loss, params):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, [p for Wb in params for p in Wb])])


def check_same_samples(sah, losses, sizes, batch, seeds=3):
    "Same samples -> same value and gradient, in float64; returns the largest relative difference."
    worst = 0.
    for seed in range(seeds):
        torch.manual_seed(seed)
        net = SBNMLP(sizes, loss='cross_entropy', dtype=torch.float64)
        params = net.layer_params()
        x, y = torch.rand(batch, sizes[0], dtype=torch.float64), torch.randint(0, sizes[-1], (batch,))
        Er, states = reference_surrogate(sah, losses, params, x, y)
        gr = grads(Er, params)
        Eo = psa_loss(net, x, y, states=states, backend='eager').mean()
        go = grads(Eo, params)
        go_c = grads(psa_loss(net, x, y, states=states, backend='compiled').mean(), params)
        worst = max(worst, abs(Eo.item() - Er.item()) / abs(Er.item()), ((go - gr).norm() / gr.norm()).item(),
                    ((go_c - gr).norm() / gr.norm()).item())
    return worst


def check_distribution(sah, losses, sizes=(12, 8, 8, 3), batch=16, samples=3000):
    "Two-sample z-test of the mean gradients of both codes, each drawing its own samples: (max |z|, threshold)."
    torch.manual_seed(10)
    net = SBNMLP(list(sizes), loss='cross_entropy', dtype=torch.float64)
    params = net.layer_params()
    x, y = torch.rand(batch, sizes[0], dtype=torch.float64), torch.randint(0, sizes[-1], (batch,))
    ref = torch.stack([grads(reference_surrogate(sah, losses, params, x, y)[0], params) for _ in range(samples)])
    ours = torch.stack([grads(psa_loss(net, x, y).mean(), params) for _ in range(samples)])
    se = (ref.var(0) / samples + ours.var(0) / samples).sqrt().clamp(min=1e-300)
    z = ((ref.mean(0) - ours.mean(0)) / se).abs().max().item()
    return z, z_threshold(ref.shape[1], samples=samples)


def time_side_by_side(sah, losses, sizes, batch, repeats):
    "Median seconds of one training step of each code, interleaved (float32)."
    torch.manual_seed(0)
    net = SBNMLP(sizes, loss='cross_entropy', dtype=torch.float32)
    params = net.layer_params()
    x, y = torch.rand(batch, sizes[0]), torch.randint(0, sizes[-1], (batch,))
    def ours(backend): return lambda: psa_loss(net, x, y, backend=backend).mean().backward()
    steps = {'reference': lambda: reference_surrogate(sah, losses, params, x, y)[0].backward(),
             'ours (auto: compiled)': ours('auto'), 'ours (eager)': ours('eager')}
    warm, times = {}, {k: [] for k in steps}
    for k, f in steps.items():
        t0 = time.perf_counter(); f(); warm[k] = time.perf_counter() - t0
    for r in range(repeats):
        for k in list(steps)[r % len(steps):] + list(steps)[:r % len(steps)]:
            net.zero_grad(); t0 = time.perf_counter(); steps[k](); times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, warm


def main(argv=None):
    p = argparse.ArgumentParser(prog='psa_reference_bench', description=__doc__.splitlines()[0])
    p.add_argument('checkout', help="path to a checkout of github.com/shekhovt/PSA-Neurips2020")
    p.add_argument('--threads', type=int, default=1, help="CPU threads (default: %(default)s)")
    p.add_argument('--repeats', type=int, default=7, help="timed rounds (default: %(default)s)")
    p.add_argument('--samples', type=int, default=3000, help="samples per code in the distribution check (default: %(default)s)")
    a = p.parse_args(argv)
    if a.threads < 1 or a.repeats < 1 or a.samples < 2: p.error("--threads and --repeats must be >= 1, --samples >= 2")
    torch.set_num_threads(a.threads)
    sah, losses = load_reference(a.checkout)
    sizes, batch = [784, 512, 512, 10], 128
    d = check_same_samples(sah, losses, [50, 40, 30, 10], 32)
    print(f"same samples -> same value and gradient (float64, eager and compiled): max relative difference {d:.2e}")
    if d > 1e-9: sys.exit("psa_reference_bench: error: the two codes disagree on the same samples")
    z, t = check_distribution(sah, losses, samples=a.samples)
    print(f"same distribution: mean gradients of {a.samples} independent samples each, max |z| = {z:.2f} (threshold {t:.2f})")
    if z > t: sys.exit("psa_reference_bench: error: the mean gradients of the two codes differ")
    med, warm = time_side_by_side(sah, losses, sizes, batch, a.repeats)
    ref = med['reference']
    print(f"one PSA training step, FC {'-'.join(map(str, sizes))}, batch {batch}, float32, {torch.get_num_threads()} thread(s), "
          f"medians of {a.repeats} interleaved rounds (warm-up apart):")
    for k, v in med.items():
        print(f"  {k:<24} {1e3 * v:8.1f} ms   reference / this = {ref / v:5.2f}x   (warm-up {warm[k]:.2f} s)")


if __name__ == '__main__': main()
