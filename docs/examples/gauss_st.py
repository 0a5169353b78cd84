"""A plugin for sbn_estimators: straight-through with a Gaussian surrogate gradient, `gauss_st`.

In the library's repository this file is `nbs/examples/gauss_st.py` (the installed package does not hold it). Save a copy
in your own folder, say as `gauss_st.py`, and load it from there with `sbn_estimators.load_plugins('gauss_st.py')`, or
give the commands `--plugins gauss_st.py` (a path from the folder you run in, or an absolute one).
The page "Tutorial: your own estimator" derives and checks it.
"""
import math, numbers
import torch
from sbn_estimators.estimators import register_estimator
from sbn_estimators.straight_through import StraightThrough
from sbn_estimators.catalogue import CATALOGUE

@register_estimator('gauss_st')
class GaussST(StraightThrough):
    "ST with a Gaussian surrogate of width s = `sigma`: proxy 2Φ(a/s) - 1 = erf(a/(s√2)), backward its derivative 2φ(a/s)/s."
    def __init__(self, noise='logistic', deterministic=False,
                 sigma=1.6): # width s of the Gaussian
        super().__init__(noise, deterministic)
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 1e-6 <= sigma <= 1e6:   # NaN fails too
            raise ValueError(f"sigma must be a number in [1e-06, 1e+06], got {sigma!r}")   # beyond, the slope is all but zero: a spike narrower than 1e-6 or a plateau lower than 1e-6 (its peak 0.8/s overflows float32 only below s = 2e-39)
        self.sigma = float(sigma)   # kept under its parameter's name: `spec` and `hparams` read it back
    def proxy(self, a): return torch.erf(a / (self.sigma * math.sqrt(2)))
    def slope(self, a): return torch.exp(-0.5 * (a / self.sigma) ** 2) * (2 / (self.sigma * math.sqrt(2 * math.pi)))

# Its card in the catalogue (`catalogue.estimator_card`) and the papers a run with it cites (`references.bib`):
# what the code cannot say about it. A paper not yet in `catalogue.REFERENCES` is added there the same way; entries
# already there are left as they are (`load_plugins` refuses a plugin that changes one).
CATALOGUE['gauss_st'] = dict(forward=r'x = \operatorname{sign}(a - Z)', backward=r'\tfrac{2}{s}\,\varphi(a/s),\; s = \texttt{sigma}',
                             cost='1 forward + 1 backward pass', unbiased=False, refs=('shekhovtsov2021st',))
