"The README's set-up commands and CI's script agree, and the package is what settings.ini says."
import re
from configparser import ConfigParser
from conftest import ROOT


def readme_commands():
    text = (ROOT / 'README.md').read_text()
    block = re.search(r"```(?:sh|bash)\n(.*?)```", text, re.S).group(1)
    return [l for l in block.splitlines() if l.strip() and not l.startswith('#')]


def test_readme_opens_with_two_commands_and_ci_runs_the_second():
    cmds = readme_commands()
    assert len(cmds) == 2, cmds
    assert 'sbn-' in cmds[0] and 'pytest' in cmds[1]
    ci = (ROOT / '.ci' / 'run').read_text()
    assert cmds[1] in ci, "the README's test command must be the one .ci/run runs"


def test_runtime_requirements_do_not_pin_dev_tools():
    cfg = ConfigParser(); cfg.read(ROOT / 'settings.ini')
    req = cfg['DEFAULT']['requirements']
    assert 'nbdev' not in req and 'fastcore' not in req and 'execnb' not in req
    assert 'fastcore>=1.12.3,<2' in cfg['DEFAULT']['dev_requirements']


def test_citation_file_names_this_version():
    "CITATION.cff (GitHub's 'Cite this repository') is valid YAML and cites the version settings.ini builds."
    import yaml
    cff = yaml.safe_load((ROOT / 'CITATION.cff').read_text())
    cfg = ConfigParser(); cfg.read(ROOT / 'settings.ini')
    assert cff['cff-version'] == '1.2.0' and cff['title'] and cff['authors']
    assert str(cff['version']) == cfg['DEFAULT']['version']
    assert cff['repository-code'] == cfg['DEFAULT']['git_url']
