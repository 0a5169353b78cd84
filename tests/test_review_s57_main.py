"Review s57 (main): gradeval's hint for a moot scheduled parameter fits every scheduled estimator."
import pytest
from sbn_estimators.gradeval import gradeval_cli

@pytest.mark.parametrize('spec, name', [('progressive_sign:alpha=2', 'progressive_sign'), ('ede:t_max=5', 'ede')])
def test_moot_schedule_hint_names_the_estimators_fix(capsys, spec, name):
    with pytest.raises(SystemExit) as e: gradeval_cli(['--estimators', f'exact,{spec}', '--samples', '10', '--epochs', '0'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert 'would be ignored' in err and f'for {name}' in err, err
