"Review s43 (fix H): Bop, BayesBiNN (nbs/20) and MirrorDescent (nbs/07) refuse what would break their state: BayesBiNN's lr > 1 and non-finite gradients, non-bool `binary` flags, foreign or edited state_dicts, 16-bit MirrorDescent latents, a Bop gamma that rounds away, lr/weight_decay keywords of the factories, draw/mean arguments."
import re, types
import pytest, torch
from torch import nn
from sbn_estimators.binary_optimizers import Bop, BayesBiNN, make_bop, make_bayesbinn, binary_param_groups
from sbn_estimators.binary_weights import MirrorDescent, BinaryWeightLinear

torch.set_num_threads(1)

def _w(*v, dtype=torch.float32): return nn.Parameter(torch.tensor(v, dtype=dtype))

def test_bayesbinn_lr_above_1_refused_in_binary_groups():
    "lambda <- (1 - lr) lambda - lr (N s g - lambda_0): for lr > 1 the factor on lambda is negative (lr = 2.5 drove |lambda| to 1e35)."
    for lr in (1.5, 2.5):
        with pytest.raises(ValueError, match=re.escape(f"lr of param group 0 must be at most 1 in a binary group, got {lr}")):
            BayesBiNN([{'params': [_w(0.3, -0.2)], 'binary': True}], train_size=10, lr=lr, temperature=0.5, init_lambda=1.)
    opt = BayesBiNN([{'params': [_w(0.3, -0.2)], 'binary': True}], train_size=10)
    with pytest.raises(ValueError, match=re.escape("lr of param group 1 must be at most 1 in a binary group, got 3.0")):
        opt.add_param_group({'params': [_w(1.)], 'binary': True, 'lr': 3.0})
    assert len(opt.param_groups) == 1
    # lr = 1 is the full step: with no data gradient lambda becomes the prior, its sign never flips
    w = _w(0.3, -0.2)
    opt = BayesBiNN([{'params': [w], 'binary': True}], train_size=10, lr=1., temperature=0.5, init_lambda=1., prior_lambda=0.5)
    for _ in range(3):
        w.grad = torch.zeros(2); opt.step()
        assert torch.equal(opt.state[w]['lambda'], torch.full((2,), 0.5))
    # a real-valued group's lr is Adam's and may exceed 1
    opt = BayesBiNN([{'params': [_w(1.)], 'binary': True, 'lr': 0.1}, {'params': [_w(2.)], 'binary': False}], train_size=10, lr=2.)
    assert opt.param_groups[1]['lr'] == 2.

def test_bayesbinn_non_finite_gradient_refused():
    "A nan gradient made lambda nan for good; refused as Bop refuses it, before anything changes (the Adam group too)."
    w, r = _w(0.3, -0.2), _w(1., 2.)
    opt = BayesBiNN([{'params': [r], 'binary': False}, {'params': [w], 'binary': True}], train_size=10, lr=0.1)
    lam, wr = opt.state[w]['lambda'].clone(), w.detach().clone()
    for bad in (float('nan'), float('inf')):
        w.grad, r.grad = torch.tensor([bad, 0.1]), torch.ones(2)
        with pytest.raises(ValueError, match=re.escape("bayesbinn: the gradient of binary parameter 0 of param group 1 (shape [2]) is not finite: "
                                                       "lambda would become nan or inf")):
            opt.step()
        assert torch.equal(opt.state[w]['lambda'], lam) and torch.equal(w.detach(), wr) and torch.equal(r.detach(), torch.tensor([1., 2.]))
    w.grad = torch.tensor([0.1, 0.1]); opt.step()
    assert torch.isfinite(opt.state[w]['lambda']).all()

@pytest.mark.parametrize('make, where', [(lambda g: Bop(g), ' of param group 0'), (lambda g: BayesBiNN(g, train_size=3), ' of param group 0'),
                                         (lambda g: MirrorDescent(g, lr=0.1), ' (param group 0)')])
@pytest.mark.parametrize('flag', ['no', 1, 0, None, torch.tensor(True)])
def test_binary_flag_must_be_bool(make, where, flag):
    "Bop's 'binary': 'no' and BayesBiNN's 'binary': 1 were taken as binary."
    with pytest.raises(ValueError, match=re.escape(f"binary{where} must be True or False, got {flag!r}")):
        make([{'params': [_w(1., 1.)], 'binary': flag}])

def test_draw_generator_checked():
    opt = BayesBiNN([{'params': [_w(0.3, -0.2)], 'binary': True}], train_size=10)
    for bad in (0, 'seed', torch.tensor(0)):
        with pytest.raises(ValueError, match=re.escape(f"generator must be a torch.Generator or None (the global random state), got {bad!r}")):
            opt.draw(bad)
    opt.draw(torch.Generator().manual_seed(0)); opt.draw()

def test_mirror_descent_refuses_foreign_state_dict():
    "An SGD state_dict loaded, then step() failed with KeyError 'clip'."
    p = _w(0.3, -0.2)
    md = MirrorDescent([p], lr=0.1, clip=1.)
    for other in (torch.optim.SGD([_w(0., 0.)], lr=0.5), Bop([{'params': [_w(1., 1.)], 'binary': True}])):
        with pytest.raises(ValueError, match=re.escape("MirrorDescent cannot load this state_dict: its param groups have no 'clip' (it was saved by another optimizer)")):
            md.load_state_dict(other.state_dict())
    p.grad = torch.ones(2); md.step()
    assert torch.allclose(p.detach(), torch.tensor([0.2, -0.3]))

@pytest.mark.parametrize('name', ['md', 'bop', 'bayesbinn'])
def test_loaded_hyper_parameters_checked(name):
    "A state_dict edited to lr=nan (or a Bop threshold of -1) was loaded and made the weights or m nan; refused, the optimizer left as it was. lr = 0 (a finished cosine schedule) loads."
    w = _w(0.5, -0.5)
    make = {'md': lambda: MirrorDescent([w], lr=0.1, clip=1.), 'bop': lambda: Bop([{'params': [w], 'binary': True}]),
            'bayesbinn': lambda: BayesBiNN([{'params': [w], 'binary': True}], train_size=10)}[name]
    opt = make()
    where = ' (param group 0 of the loaded state_dict)' if name == 'md' else ' of param group 0 of the loaded state_dict'
    edits = [('lr', float('nan'), f"lr{where} must be a finite number >= 0, got nan"), ('lr', -1., f"lr{where} must be a finite number >= 0, got -1.0")]
    if name == 'bop': edits += [('threshold', -1., f"threshold{where} must be a positive number"), ('gamma', 1e-300, f"gamma{where} must be above")]
    if name == 'bayesbinn': edits += [('lr', 1.5, f"lr{where} must be at most 1 in a binary group"), ('temperature', float('nan'), f"temperature{where}"),
                                      ('binary', 'yes', f"binary{where} must be True or False, got 'yes'")]
    if name == 'md': edits += [('clip', 0., f"clip{where} must be a positive number or None, got 0.0"), ('weight_decay', 20., f"lr * weight_decay{where} must be below 1")]
    before = opt.state_dict()
    for k, v, msg in edits:
        sd = opt.state_dict(); sd['param_groups'][0][k] = v
        with pytest.raises(ValueError, match=re.escape(msg)): opt.load_state_dict(sd)
        assert opt.param_groups[0][k] == before['param_groups'][0][k]
    sd = opt.state_dict(); sd['param_groups'][0]['lr'] = 0.
    opt.load_state_dict(sd); assert opt.param_groups[0]['lr'] == 0.

@pytest.mark.parametrize('dt', [torch.bfloat16, torch.float16])
def test_mirror_descent_refuses_16bit_latents(dt):
    "In bfloat16, 100 steps of -0.001 from 1.0 left 1.0: the update rounded away. Refused, with the group not added."
    with pytest.raises(ValueError, match=re.escape(f"MirrorDescent steps the latents in place, in their dtype, and parameter 0 (param group 0) is {dt}")):
        MirrorDescent([nn.Parameter(torch.ones(3, dtype=dt))], lr=0.01)
    md = MirrorDescent([_w(1.)], lr=0.01)
    with pytest.raises(ValueError, match=re.escape(f"parameter 1 (param group 1) is {dt}")):
        md.add_param_group({'params': [_w(1.), nn.Parameter(torch.ones(2, dtype=dt))]})
    assert len(md.param_groups) == 1
    for ok in (torch.float32, torch.float64): MirrorDescent([nn.Parameter(torch.ones(3, dtype=ok))], lr=0.01)

def test_bop_gamma_that_rounds_away_refused():
    "gamma = 1e-300 was accepted, but gamma * g rounded to 0 in m's dtype and nothing flipped; at 1e-8 in float32 m never decayed."
    for g, dt, state in ((1e-300, torch.float32, torch.float32), (1e-8, torch.float32, torch.float32), (1e-8, torch.bfloat16, torch.float32),
                         (1e-17, torch.float64, torch.float64)):
        with pytest.raises(ValueError, match=re.escape(f"gamma of param group 0 must be above {torch.finfo(state).eps / 4:.3g} in {state}, the dtype of m, got {g!r}")):
            Bop([{'params': [nn.Parameter(torch.ones(2, dtype=dt))], 'binary': True}], gamma=g)
    assert Bop([{'params': [nn.Parameter(torch.ones(2, dtype=torch.float64))], 'binary': True}], gamma=1e-8).param_groups[0]['gamma'] == 1e-8
    opt = Bop([{'params': [_w(1.)], 'binary': True}])
    with pytest.raises(ValueError, match=re.escape("gamma of param group 1 must be above")):
        opt.add_param_group({'params': [_w(1.)], 'binary': True, 'gamma': 1e-10})
    assert len(opt.param_groups) == 1
    Bop([{'params': [_w(1.)], 'binary': True}, {'params': [_w(2.)], 'binary': False, 'gamma': 1e-300}])   # a real-valued group has no m

def test_factories_refuse_lr_and_weight_decay_keywords():
    cfg = types.SimpleNamespace(lr=1e-3, weight_decay=0.)
    groups = lambda: binary_param_groups(BinaryWeightLinear(3, 2))
    for make, extra in ((make_bop, {}), (make_bayesbinn, {'train_size': 10})):
        for k, v in (('lr', 0.1), ('weight_decay', 1e-4)):
            with pytest.raises(ValueError, match=re.escape(f"{make.__name__}: {k} comes from cfg.{k} (the trainer's --{k.replace('_', '-')}), "
                                                           f"not from a keyword argument; got {k}={v!r}")):
                make(groups(), cfg, **extra, **{k: v})

def test_mean_of_a_foreign_parameter():
    w, r = _w(1., -1.), _w(2.)
    opt = BayesBiNN([{'params': [w], 'binary': True}, {'params': [r], 'binary': False}], train_size=3, init_lambda=1.)
    assert torch.allclose(opt.mean(w), torch.tanh(torch.tensor([1., -1.])))
    for foreign in (_w(1., 1.), r):
        with pytest.raises(ValueError, match=re.escape("w must be a parameter of a binary group of this optimizer, got Parameter of shape")):
            opt.mean(foreign)
