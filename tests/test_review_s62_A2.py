"Review s62 (found by the docs build): a page that runs the code its module exports registers the same class again, as before the registry marked its classes (`_registered_as`): the mark is not part of a definition."
import inspect
import pytest
from sbn_estimators import gumbel_family, control_variates
from sbn_estimators.estimators import ESTIMATORS, ALIASES


@pytest.mark.parametrize('module, cls', [(gumbel_family, 'ZGR'), (control_variates, 'UGC')])
def test_a_page_registers_its_exported_class_again(module, cls):
    held = getattr(module, cls)
    saved = dict(ESTIMATORS), dict(ALIASES)
    try:
        ns = {**vars(module), '__name__': '__main__'}   # a notebook page running the cell its module exports
        exec(compile(inspect.getsource(held), '<cell>', 'exec'), ns)
        assert ESTIMATORS[held.name] is ns[cls] and ns[cls] is not held
    finally:
        ESTIMATORS.clear(); ESTIMATORS.update(saved[0]); ALIASES.clear(); ALIASES.update(saved[1])
