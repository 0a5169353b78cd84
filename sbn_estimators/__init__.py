__version__ = "0.2.7"
# The one module not generated from a notebook: nbdev_export keeps it and only updates the version above.
import os as _os, signal as _signal, sys as _sys
# Started as an `sbn-*` command: a Ctrl-C while PyTorch and NumPy import can be swallowed by their import machinery, and the
# command then runs on with a broken NumPy. SIGINT is held until `cli.run_cli` can turn it into one line and exit status 130.
_HOLDS_SIGINT = (_os.path.basename((getattr(_sys, 'argv', None) or [''])[0]) in ('sbn-train', 'sbn-gradeval', 'sbn-bench')
                 and getattr(_sys.modules.get('__main__'), '__name__', '') != '__mp_main__'   # not in a spawned child, which copies argv
                 and hasattr(_signal, 'pthread_sigmask'))
if _HOLDS_SIGINT: _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})
# It re-exports the estimator registry (nbs/03_estimators.ipynb) at the top level.
from .estimators import estimator, list_estimators, load_plugins, register_estimator
