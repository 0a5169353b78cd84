"Session 54: a recipe's rates are tuned for its optimizer; `--optimizer` naming another needs `--lr` (and `--stages` where the recipe's stages set rates). Before, Adam ran at ReSTE's SGD rate 0.1, and bayesbinn, which has no default rate, ran at a recipe's Adam rate."
import pytest
from sbn_estimators.train import train_cli


def err(capsys, *args):
    with pytest.raises(SystemExit) as e: train_cli([*args, '--smoke', '--threads', '1'])
    lines = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(lines) == 1, lines
    return lines[0]


def test_another_optimizer_needs_its_own_rate(capsys):
    assert "recipe 'fmnist_bnn_st' tunes its rates for its optimizer 'adam' (lr 0.001), not for 'bayesbinn': give --lr" in \
        err(capsys, '--recipe', 'fmnist_bnn_st', '--optimizer', 'bayesbinn', '--estimator', 'st:deterministic=true')
    assert "not for 'sgd': give --lr and --stages" in err(capsys, '--recipe', 'binaryduo_digits', '--optimizer', 'sgd')
    assert "not for 'sgd': give --stages" in err(capsys, '--recipe', 'binaryduo_digits', '--optimizer', 'sgd', '--lr', '0.1')


def test_the_same_optimizer_or_a_given_rate_is_accepted(capsys):
    for args in (('--recipe', 'binaryduo_digits', '--optimizer', 'adam'), ('--recipe', 'fmnist_bnn_st', '--optimizer', 'adam'),
                 ('--recipe', 'binaryduo_digits', '--optimizer', 'sgd', '--lr', '0.1', '--stages', '[{"name": "a", "epochs": 1}]'),
                 ('--recipe', 'fmnist_bnn_st', '--optimizer', 'sgd', '--stages', '[{"name": "a", "lr": 0.1}]')):   # every stage its own rate: --lr would be refused
        train_cli([*args, '--smoke', '--threads', '1'])
        assert 'smoke run of' in capsys.readouterr().out
