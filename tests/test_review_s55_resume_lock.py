"Review s55 (nbs/14_train.ipynb): a resume locks the run folder before it reads config.json, last.pt and best.pt; `load_checkpoint` names torch.load's error class and reason."
import pathlib
import pytest, torch
import sbn_estimators.train as T
from sbn_estimators import cli
from sbn_estimators.cli import RunFolder, RunFolderLocked, LOCK_NAME
from sbn_estimators.train import TrainConfig, train, load_checkpoint

torch.set_num_threads(1)
CFG = dict(model='sbn_mlp:width=16', epochs=1, eval_samples=1)

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "A finished one-epoch run folder."
    out = tmp_path_factory.mktemp('runs') / 'r'
    train(TrainConfig(**CFG), out, progress=False)
    return out

def test_a_resume_of_a_folder_another_run_holds_reads_nothing(finished, monkeypatch):
    "Another run holds the lock (it is still writing the folder): the resume is refused before it reads config.json, last.pt or best.pt, or builds."
    seen = []
    load, config, build = T.load_checkpoint, cli.load_config, T.build
    monkeypatch.setattr(T, 'load_checkpoint', lambda p, *a, **k: (seen.append(pathlib.Path(p).name), load(p, *a, **k))[1])
    monkeypatch.setattr(cli, 'load_config', lambda p, *a, **k: (seen.append(pathlib.Path(p).name), config(p, *a, **k))[1])
    monkeypatch.setattr(T, 'build', lambda *a, **k: (seen.append('build'), build(*a, **k))[1])
    before = {q.name: q.read_bytes() for q in finished.iterdir()}
    with RunFolder(finished, resume=True):   # the other writer
        with pytest.raises(RunFolderLocked, match='is in use by process'):
            train(TrainConfig(**CFG), finished, resume=True, progress=False)
    assert seen == [], seen   # was: config.json, last.pt, best.pt read and the model built before the lock was tried
    assert {q.name: q.read_bytes() for q in finished.iterdir()} == before

def test_a_resume_reads_the_folder_only_under_its_lock(finished, monkeypatch):
    "Every read of config.json, last.pt and best.pt by a resume happens while the folder's lock is held."
    held = []
    load, config = T.load_checkpoint, cli.load_config
    def spy(f):
        def g(p, *a, **k):
            held.append((pathlib.Path(p).name, (finished / LOCK_NAME).is_file()))
            return f(p, *a, **k)
        return g
    monkeypatch.setattr(T, 'load_checkpoint', spy(load))
    monkeypatch.setattr(cli, 'load_config', spy(config))
    train(TrainConfig(**CFG), finished, resume=True, progress=False)   # a finished run: nothing left to train
    reads = [h for h in held if h[0] in ('config.json', 'last.pt', 'best.pt')]
    assert {'config.json', 'last.pt', 'best.pt'} <= {n for n, _ in reads}, held
    assert all(locked for _, locked in reads), held   # was: read before the lock was taken
    assert not (finished / LOCK_NAME).exists()   # released at the end

def test_the_refusals_without_a_last_pt_keep_their_advice(tmp_path):
    "No last.pt (nothing to lock): the refusal still names the way on; a missing folder's config.json is named; a new run whose first save fails removes its folder."
    cfg = TrainConfig(model='sbn_mlp:width=16', epochs=2, eval_samples=1)
    train(cfg, tmp_path / 'r', progress=False)
    (tmp_path / 'r' / 'last.pt').unlink()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*last.pt; .*best.pt holds all that resuming needs"):
        train(cfg, tmp_path / 'r', resume=True, progress=False)
    assert not (tmp_path / 'r' / LOCK_NAME).exists()
    with pytest.raises(FileNotFoundError, match='missing/config.json does not exist'):
        train(cfg, tmp_path / 'missing', resume=True, progress=False)
    assert not (tmp_path / 'missing').exists()

def test_a_new_run_whose_first_save_fails_removes_its_folder(tmp_path, monkeypatch):
    def fail(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(T, 'save_checkpoint', fail)
    with pytest.raises(OSError, match='disk full'):
        train(TrainConfig(**CFG), tmp_path / 'a' / 'b', progress=False)
    assert not (tmp_path / 'a').exists()

def test_load_checkpoint_names_the_error_class_and_reason(tmp_path):
    "A garbage file: the KeyError's class is named; a weights_only refusal: its WeightsUnpickler line, without terminal escape codes."
    p = tmp_path / 'g.pt'; p.write_bytes(b'hello')
    with pytest.raises(ValueError) as e: load_checkpoint(p)
    msg = str(e.value)
    assert 'is corrupted or not a checkpoint (torch.load failed: ' in msg and 'KeyError' in msg, msg   # was: "(torch.load failed: 101)"
    q = tmp_path / 'p.pt'; torch.save({'a': pathlib.PurePath('x')}, q)
    with pytest.raises(ValueError) as e: load_checkpoint(q)
    msg = str(e.value)
    assert '\x1b' not in msg and '\n' not in msg, repr(msg)
    assert 'Unsupported global' in msg and 'pathlib.Pure' in msg, msg   # was: torch's first line, escape codes and no reason
