"""Our binary Gumbel-family estimators against their authors' public code, on a ±1 unit read as logits (a, 0).

    python tools/gumbel_reference_bench.py [--zgr PATH] [--reinmax PATH] [--gst PATH] [--gumbel-rao PATH] [--threads 1]

Each PATH is a checkout of github.com/shekhovt/ZGR, microsoft/ReinMax, chijames/GST or nshepperd/gumbel-rao-pytorch;
the reference is imported from it (never copied into this repository); references not given are skipped. Compared:
`darn` (the DARN half of the reference's `ZGR`, i.e. 2 ZGR - softmax-ST), `zgr` (`ZGR`, `ZGR_Function`, `ZGR_binary`),
`reinmax` (`reinmax`; `ReinMaxCore` for tau < 1, which the wrapper refuses), `gst` (`gst_mover`) and `gumbel_rao`
(nshepperd's `gumbel_rao`; GST's `rao_gumbel`), for a in {-4, -1, 0, 0.5, 3}, tau in {0.1, 0.5, 1, 2}, gap in {0, 0.5, 1, 2},
k in {1, 10}, float64, one unit (both states) and a batch of five, with the cubic g(x) = 0.3x + 0.8x^2 - 0.5x^3.

1. Same state: the reference draws on logits (a, 0); its state (and, for Gumbel-Rao, its conditional Gumbel noise as
   Z = G_1 - G_0) is forced into ours; its gradient w.r.t. theta_0 must equal ours w.r.t. a to 1e-12 x max(1, |gradient|)
   (the gradients here are below 15, so a few float64 roundings stay under 1e-13), or 1e-5 x max(1, |gradient|) where the
   reference's output is float32 (detected and reported).
2. In expectation: the two states weighted by their probabilities (same tolerance); for Gumbel-Rao, 20,000 units
   (k = 10) of each code, drawing their own states and noise, against E[slope | x] by quadrature, with a Bonferroni
   threshold (`sbn_estimators.stats.z_threshold`, Student's t).
Exit status 1 if a check fails, 2 if a PATH is not a checkout of its repository.
"""
import argparse, importlib.util, math, os, subprocess, sys, time
import torch
import torch.nn.functional as F
import sbn_estimators.gumbel_family as gf
from sbn_estimators.estimators import estimator
from sbn_estimators.stats import z_threshold

A, TAUS, GAPS, KS = (-4., -1., 0., .5, 3.), (.1, .5, 1., 2.), (0., .5, 1., 2.), (1, 10)
g = lambda x: .3 * x + .8 * x ** 2 - .5 * x ** 3
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}
f64 = dict(dtype=torch.float64)


def load(path, repo, rel, names):
    "The module `rel` of the checkout of `repo` at `path` (exit 2 if it is not one), and the checkout's commit."
    path = os.path.abspath(path); f = os.path.join(path, rel)
    src = open(f).read() if os.path.isfile(f) else ''
    if missing := [n for n in names if f'def {n}(' not in src and f'class {n}(' not in src]:
        why = f"{rel} lacks {', '.join(missing)}" if src else f"no {rel}"
        print(f"gumbel_reference_bench: error: {path} is not a checkout of {repo} ({why})", file=sys.stderr)
        sys.exit(2)
    spec = importlib.util.spec_from_file_location('ref_' + repo.replace('/', '_').replace('-', '_'), f)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    r = subprocess.run(['git', '-C', path, 'rev-parse', '--short=7', 'HEAD'], capture_output=True, text=True) \
        if os.path.exists(os.path.join(path, '.git')) else None
    return mod, (r.stdout.strip() if r is not None and r.returncode == 0 else 'unknown')


def run_ref(fn, a, seed):
    "fn on logits (a, 0) after seeding: (±1 states, d sum g(y_0 - y_1) / d theta_0, output dtype, noise or None)."
    theta = torch.stack([a, torch.zeros_like(a)], -1).requires_grad_()
    torch.manual_seed(seed)
    y, noise = fn(theta)
    d = y[..., 0] - y[..., 1]
    grad, = torch.autograd.grad(g(d).sum(), theta)
    return torch.where(d.detach() > 0, 1., -1.).double(), grad[..., 0], y.dtype, noise


def run_ours(est, a, x, noise=None):
    "d sum g(est(a)) / da, the library's forward with its states forced to x (and Gumbel-Rao's noise to `noise`)."
    a, saved = a.clone().requires_grad_(), gf.sample_states
    gf.sample_states = lambda a_, kind: x
    if noise is not None: est.noise_given = lambda a_, x_: noise
    try: out = est(a)
    finally: gf.sample_states = saved
    assert torch.equal(out.detach(), x), "the forced state did not come out"
    return torch.autograd.grad(g(out).sum(), a)[0]


def compare(fn, est, seeds=2000, batch_draws=3):
    """Largest same-state and expectation differences, the reference's output dtypes, and the largest difference
    in units of its tolerance, TOL[dtype] x max(1, |gradient|) (above 1: fail)."""
    same, expect, dtypes, excess = 0., 0., set(), 0.
    def one(a, seed):
        nonlocal same, excess
        x, gr, dt, noise = run_ref(fn, a, seed)
        go = run_ours(est, a, x, noise); dtypes.add(dt)
        same = max(same, (gr - go).abs().max().item())
        excess = max(excess, ((gr - go).abs() / gr.abs().clamp(min=1)).max().item() / TOL[dt])
        return x, gr, go
    for a0 in A:
        a, got = torch.tensor([a0], **f64), {}
        for seed in range(seeds):
            x, gr, go = one(a, seed)
            got.setdefault(x.item(), (gr.item(), go.item()))
            if len(got) == 2: break
        else: raise RuntimeError(f"a = {a0}: the reference drew one state only in {seeds} draws")
        p = 1 / (1 + math.exp(-a0))
        e_ref, e_ours = (p * got[1.][i] + (1 - p) * got[-1.][i] for i in (0, 1))
        expect = max(expect, abs(e_ref - e_ours))
        excess = max(excess, abs(e_ref - e_ours) / max(1, abs(e_ref)) / max(TOL[dt] for dt in dtypes))
    for seed in range(batch_draws): one(torch.tensor(A, **f64), seed)
    return same, expect, dtypes, excess


def merge(results):
    "compare()'s results over several settings, combined."
    return (max(r[0] for r in results), max(r[1] for r in results), set().union(*(r[2] for r in results)), max(r[3] for r in results))


def gr_slope_given(a0, x, tau, n=200_000, T=40.):
    "E[Gumbel-Rao slope | x] = int_0^inf 2 s'(t) s'(x a - tau t) dt / s(x a), s the sigmoid, by the midpoint rule."
    t, xa = (torch.arange(n, **f64) + .5) * (T / n), torch.tensor(x * a0, **f64)
    sp = lambda u: torch.sigmoid(u) * torch.sigmoid(-u)
    return ((2 * sp(t) * sp(xa - tau * t)).sum() * (T / n) / torch.sigmoid(xa)).item()


def gr_monte_carlo(codes, n=20_000, k=10):
    "Largest |z| of each code's mean slope given the state against the quadrature, and the Bonferroni threshold."
    zs, fewest = {name: 0. for name in codes}, n
    for j, (tau, a0) in enumerate((tau, a0) for tau in TAUS for a0 in A):
        for name, fn in codes.items():
            torch.manual_seed(j)   # each code's draws do not depend on which other codes run
            a = torch.full((n,), a0, **f64, requires_grad=True)
            if fn is None: x = estimator('gumbel_rao', tau=tau, k=k)(a)
            else: y = fn(torch.stack([a, torch.zeros_like(a)], -1), k, tau)[0]; x = y[..., 0] - y[..., 1]
            s, = torch.autograd.grad(x.sum(), a)
            for state in (1., -1.):
                v = s[(x.detach() > 0) == (state > 0)]; fewest = min(fewest, len(v))
                z = (v.mean().item() - gr_slope_given(a0, state, tau)) / (v.std().item() / math.sqrt(len(v)))
                zs[name] = max(zs[name], abs(z))
    return zs, z_threshold(len(codes) * len(TAUS) * len(A) * 2, samples=fewest)


def fmt(r):
    "The table's two cells for compare()'s result `r`."
    return f"{r[0]:.1e}" + (" (the reference's output is float32)" if torch.float32 in r[2] else ''), f"{r[1]:.1e}"


def main(argv=None):
    p = argparse.ArgumentParser(prog='gumbel_reference_bench', description=__doc__.splitlines()[0])
    for r, repo in (('zgr', 'shekhovt/ZGR'), ('reinmax', 'microsoft/ReinMax'), ('gst', 'chijames/GST'),
                    ('gumbel-rao', 'nshepperd/gumbel-rao-pytorch')):
        p.add_argument('--' + r, metavar='PATH', help=f"checkout of github.com/{repo}")
    p.add_argument('--threads', type=int, default=1, help="CPU threads (default: %(default)s)")
    o = p.parse_args(argv)
    if o.threads < 1: p.error("--threads must be >= 1")
    torch.set_num_threads(o.threads)
    t0, rows, notes, fails = time.perf_counter(), [], [], []
    def check(label, r):
        if r[3] > 1: fails.append(f"{label}: a difference {r[3]:.1f} times its tolerance")
        return fmt(r)
    ref = {}
    if o.zgr: ref['zgr'] = load(o.zgr, 'shekhovt/ZGR', 'zgr.py', ['ZGR', 'ZGR_binary', 'ZGR_Function'])
    if o.reinmax: ref['reinmax'] = load(o.reinmax, 'microsoft/ReinMax', 'reinmax/reinmax.py', ['reinmax', 'ReinMaxCore'])
    if o.gst: ref['gst'] = load(o.gst, 'chijames/GST', 'model/basic.py', ['gst_mover', 'rao_gumbel', 'masked_softmax'])
    if o.gumbel_rao: ref['gr'] = load(o.gumbel_rao, 'nshepperd/gumbel-rao-pytorch', 'gumbel_rao.py', ['gumbel_rao', 'conditional_gumbel'])
    for opt, key in (('--zgr', 'zgr'), ('--reinmax', 'reinmax'), ('--gst', 'gst'), ('--gumbel-rao', 'gr')):
        if key not in ref: notes.append(f"skipped: {opt} not given")
    draw = lambda th: torch.distributions.Categorical(logits=th.detach()).sample()   # for references that take the state

    if 'zgr' in ref:
        m, c = ref['zgr']
        def darn(th):   # the DARN half of ZGR = (ST + DARN)/2: value y, gradient 2 ZGR - softmax-ST
            y, s = m.ZGR(th), F.softmax(th, -1)
            return 2 * y - s + (s - y).detach(), None
        def binary(th):   # ZGR_binary on a = theta_0 - theta_1, its {0,1} sample b as the one-hot (b, 1 - b)
            b = m.ZGR_binary(th[..., 0] - th[..., 1])
            return torch.stack([b, 1 - b], -1), None
        fns = {'ZGR': lambda th: (m.ZGR(th), None), 'ZGR_Function': lambda th: (m.ZGR_Function.apply(th, draw(th)), None),
               'ZGR_binary': binary}
        rows.append(('`darn`', f"`shekhovt/ZGR` ({c}), the DARN half of `ZGR`",
                     *check('darn', compare(darn, estimator('darn')))))
        res = [check(f'zgr/{n}', compare(f, estimator('zgr'))) for n, f in fns.items()]
        rows.append(('`zgr`', f"`shekhovt/ZGR` ({c}): `ZGR`, `ZGR_Function`, `ZGR_binary`", *(' / '.join(r[i] for r in res) for i in (0, 1))))
        th, other = torch.tensor([[3., 0.]], **f64), torch.tensor([1])   # P(class 0) = 0.95; ask for class 1
        kept = [0, 0]
        for seed in range(50):
            for i, f in enumerate((m.ZGR, m.ZGR_Function.apply)):
                torch.manual_seed(seed); kept[i] += int(f(th, other).detach()[0, 1].item() == 1)
        notes.append(f"ZGR(logits, x): the given state came out {kept[0]}/50 times ({'x ignored' if kept[0] < 50 else 'x honoured'}); "
                     f"ZGR_Function: {kept[1]}/50 ({'x honoured' if kept[1] == 50 else 'x not honoured'})")
    if 'reinmax' in ref:
        m, c = ref['reinmax']
        core = lambda tau: lambda th: (m.ReinMaxCore.apply(th, th.new_empty(1).fill_(tau))[0], None)
        wrapper = lambda tau: lambda th: (m.reinmax(th, tau)[0], None)
        res = [compare((core if tau < 1 else wrapper)(tau), estimator('reinmax', tau=tau)) for tau in TAUS]
        rows.append(('`reinmax`', f"`microsoft/ReinMax` ({c})", *check('reinmax', merge(res))))
        try: m.reinmax(torch.zeros(1, 2, **f64), .5); notes.append("ReinMax wrapper: tau = 0.5 accepted")
        except ValueError as e: notes.append(f"ReinMax wrapper: tau = 0.5 refused ({e}); tau < 1 compared through its ReinMaxCore")
    if 'gst' in ref:
        m, c = ref['gst']
        res = [compare(lambda th, t=tau, gp=gap: (m.gst_mover(th, t, gap=gp), None), estimator('gst', tau=tau, gap=gap))
               for tau in TAUS for gap in GAPS]
        rows.append(('`gst`', f"`chijames/GST` ({c}), `gst_mover`", *check('gst', merge(res))))
        # integer gap: GST-p, gap -log(1 - pi)/pi at pi = (1 - 1e-5) P(drawn class), if it switches; compared with gap=1.0 and ours
        a, gaps = torch.tensor(A, **f64), []
        for gp in (1, 1.):
            x, gr, _, _ = run_ref(lambda th: (m.gst_mover(th, .5, gap=gp), None), a, 0); gaps.append(gr)
        pi = torch.sigmoid(x * a) * (1 - 1e-5)
        ours_p = torch.cat([run_ours(estimator('gst', tau=.5, gap=(-torch.log1p(-q) / q).item()), a[i:i + 1], x[i:i + 1])
                            for i, q in enumerate(pi)])
        notes.append(f"gst_mover, gap=1 (int) vs gap=1.0, tau 0.5: largest gradient difference {(gaps[0] - gaps[1]).abs().max():.2f}; "
                     f"gap=1 (int) vs ours at the GST-p gap: {(gaps[0] - ours_p).abs().max():.1e}")
    gr_codes, gr_res = {'ours': None}, []
    if 'gr' in ref:
        nm, c = ref['gr']
        def nshepperd(th, k, tau):
            I = draw(th); rng = torch.get_rng_state()
            Q = nm.conditional_gumbel(th.detach(), F.one_hot(I, 2).float(), k=k); torch.set_rng_state(rng)
            return nm.gumbel_rao(th, k, tau, I=I), Q[..., 1] - Q[..., 0]
        gr_codes['nshepperd'] = nshepperd
        gr_res.append((f"`nshepperd/gumbel-rao-pytorch` ({c})",
                       [compare(lambda th, k=k, t=tau: nshepperd(th, k, t), estimator('gumbel_rao', tau=tau, k=k)) for tau in TAUS for k in KS]))
    if 'gst' in ref:
        gm, c = ref['gst']
        def rao(th, k, tau):   # the noise is read off the softmax's input (theta + G)/tau
            seen, orig = [], gm.masked_softmax
            gm.masked_softmax = lambda lg, mask=None, dim=-1: (seen.append(lg.detach()), orig(lg, mask, dim))[1]
            try: y = gm.rao_gumbel(th, tau, None, repeats=k)
            finally: gm.masked_softmax = orig
            return y, (th[..., :1].detach() - tau * (seen[-1][..., 0, :] - seen[-1][..., 1, :])).movedim(-1, 0)
        gr_codes['rao_gumbel'] = rao
        gr_res.append((f"`chijames/GST` ({c}), `rao_gumbel`",
                       [compare(lambda th, k=k, t=tau: rao(th, k, t), estimator('gumbel_rao', tau=tau, k=k)) for tau in TAUS for k in KS]))
    if gr_res:
        same = [check(f'gumbel_rao/{n}', merge(res))[0] for n, res in gr_res]
        zs, thr = gr_monte_carlo(gr_codes)
        if max(zs.values()) > thr: fails.append(f"gumbel_rao: |z| {max(zs.values()):.2f} > {thr:.2f}")
        rows.append(('`gumbel_rao`', '; '.join(n for n, _ in gr_res), '; '.join(same),
                     "Monte Carlo vs E[slope given x] by quadrature (20,000 units, k = 10), largest abs(z): "
                     + ', '.join(f"{n} {z:.2f}" for n, z in zs.items()) + f" (threshold {thr:.2f})"))

    print("| ours | reference (commit) | largest difference, same state | largest difference in expectation |")
    print("|---|---|---|---|")
    for r in rows: print('| ' + ' | '.join(r) + ' |')
    print(*notes, "decoupled_st: not compared (no public reference code)", sep='\n')
    print(f"{time.perf_counter() - t0:.1f} s, {torch.get_num_threads()} thread(s)")
    if fails: print("gumbel_reference_bench: error: " + '; '.join(fails), file=sys.stderr); sys.exit(1)


if __name__ == '__main__': main()
