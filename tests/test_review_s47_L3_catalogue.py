"""Review s47 (L3): the catalogue's parameter-comment reader (`catalogue._param_comments`) finds the parameters with
`ast` and the comments with `tokenize`, so a constructor default of any shape stays one parameter and each `# comment`
goes to the parameter it follows. A user's estimator (tutorial page 17 registers one) may have such defaults."""
import torch
from sbn_estimators.catalogue import _param_comments, _param_docs
from sbn_estimators.estimators import LocalEstimator


def lambda_default(self,
                   f=lambda x, y: x, # the combiner
                   g=lambda: (1, 2), # the pair
                   h=3): # the h
    pass

def tricky_strings(self, sep='#, not a comment', # the separator
                   fmt="a(b, c): d", # the format
                   n=1, m=2, # n and m share a line: the comment is m's
                   ): # not a parameter's: m has one
    pass

def nested(self,
           shape=((1, 2), [3, {4: (5, 6)}]), # the nested shape
           pick=dict(a=lambda t: t[0], b=(lambda u, v=(1,): u)), # the picker
           k:'tuple[int, int]'=(0, 1)): # the k
    pass

def multi_line(self,
               table=(lambda z,
                      w: z + w,
                      'x,y'), # the table
               combine=lambda u,
                              v: u + v, # the combine
               last=[1,
                     2]
              ) -> list: # the return value's, not last's
    pass

def non_ascii(self, s='éééééééééééééééééééé', t=1, # the t: columns in characters, not UTF-8 bytes
              u=lambda v, w='ü': v): # the u
    pass

def star(self, a=lambda *q, **r: q, # the a
         *args, # extra positionals
         key=lambda s, /, t=1: s, # the key, keyword-only
         flag:bool=False, # the flag, keyword-only
         **kwargs): # extra keywords
    pass

def positional_only(self, p=lambda x, y=(1, 2): y, # the p
                    /, q=0, # the q
                    *, r='(' # the r
                   ): pass


def test_lambda_defaults():
    "The parameters of a lambda default are not the constructor's; each comment is the parameter's it follows."
    assert _param_comments(lambda_default) == {'f': 'the combiner', 'g': 'the pair', 'h': 'the h'}


def test_strings_nesting_and_lines():
    "`#`, `,`, `(`, `:` in string defaults, nested brackets and lambdas, defaults over several lines, a return annotation."
    assert _param_comments(tricky_strings) == {'sep': 'the separator', 'fmt': 'the format', 'm': 'n and m share a line: the comment is m\'s'}
    assert _param_comments(nested) == {'shape': 'the nested shape', 'pick': 'the picker', 'k': 'the k'}
    assert _param_comments(multi_line) == {'table': 'the table', 'combine': 'the combine'}
    assert _param_comments(non_ascii) == {'t': 'the t: columns in characters, not UTF-8 bytes', 'u': 'the u'}


def test_star_keyword_and_positional_only():
    "`*args`, `**kwargs`, keyword-only and positional-only parameters, lambdas with their own `*`, `/` and defaults."
    assert _param_comments(star) == {'a': 'the a', 'args': 'extra positionals', 'key': 'the key, keyword-only',
                                     'flag': 'the flag, keyword-only', 'kwargs': 'extra keywords'}
    assert _param_comments(positional_only) == {'p': 'the p', 'q': 'the q', 'r': 'the r'}


def _deco(f): return f

class _Plugin(LocalEstimator):
    "A user's estimator whose constructor has a lambda default and a decorator."
    @_deco
    def __init__(self,
                 slope=lambda a, scale=(1., 2.): torch.ones_like(a), # backward factor, a callable of a
                 scale:float=1.): # the scale
        super().__init__()
        self.slope_fn, self.scale = slope, scale


def test_plugin_estimator_card_params():
    "The catalogue reads a user's constructor: its own parameters with their comments, none of the lambda's."
    docs = _param_docs(_Plugin)
    assert docs['slope'] == 'backward factor, a callable of a' and docs['scale'] == 'the scale', docs
    assert 'a' not in docs


def test_no_comment_from_a_one_line_body():
    "A comment after a one-line body describes the body, not the last parameter."
    def f(self, a): return a # the result, not a's
    def g(self, a): # a's
        return a
    assert _param_comments(f) == {} and _param_comments(g) == {'a': "a's"}
