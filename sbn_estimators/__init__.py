__version__ = "0.1.0"
# The one module not generated from a notebook: nbdev_export keeps it and only updates the version above.
# It re-exports the estimator registry (nbs/03_estimators.ipynb) at the top level.
from .estimators import estimator, list_estimators, load_plugins, register_estimator
