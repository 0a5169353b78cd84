"Review s57 (main): gradeval's hint for a moot scheduled parameter fits every scheduled estimator."
import pytest
from sbn_estimators.gradeval import gradeval_cli

@pytest.mark.parametrize('spec, name', [('progressive_sign:alpha=2', 'progressive_sign'), ('ede:t_max=5', 'ede')])
def test_moot_schedule_hint_names_the_estimators_fix(capsys, spec, name):
    with pytest.raises(SystemExit) as e: gradeval_cli(['--estimators', f'exact,{spec}', '--samples', '10', '--epochs', '0'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert 'would be ignored' in err and f'for {name}' in err, err

def test_plot_report_refuses_a_non_report():
    from sbn_estimators.gradeval import plot_report
    with pytest.raises(ValueError, match="report is not a gradeval report: it has no 'estimators'"): plot_report({})
    with pytest.raises(ValueError, match=r"estimators\['a'\].*curves"): plot_report({'estimators': {'a': {'groups': []}}, 'exact_grad': {'W0': [0.]}})
