"Review s58, fix fx7: `seeded` blocks in two threads run one after the other (each draws what it draws alone); the benchmark refuses device=None with a ValueError; `sbn-bench --dtype` has help; Fashion-MNIST's not-found message offers torchvision's download; annotations that match what the functions take and return."
import inspect, threading, time, typing
import pytest, torch
from sbn_estimators.core import seeded


def _draws(seed, out, n=5):
    with seeded(seed):
        for _ in range(n): out.append(torch.rand(1).item()); time.sleep(0.005)   # forces the other thread in between


def test_seeded_blocks_in_two_threads_draw_their_solo_numbers():
    solo = [[], []]
    _draws(1, solo[0]); _draws(2, solo[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7); ref = torch.rand(3); torch.manual_seed(7)
        both = [[], []]
        ts = [threading.Thread(target=_draws, args=(s, o)) for s, o in ((1, both[0]), (2, both[1]))]
        for t in ts: t.start()
        for t in ts: t.join(timeout=60)
        assert not any(t.is_alive() for t in ts)
        assert both == solo
        assert torch.equal(torch.rand(3), ref)   # the caller's stream goes on as if neither block had run


def test_seeded_nests_in_one_thread_and_in_a_thread_started_after_a_block():
    "Re-entrant: a block inside another of the same thread does not wait on itself; a thread whose block starts after the main thread's ends does not wait."
    with seeded(3):
        a = torch.rand(2)
        with seeded(4): b = torch.rand(2)
        c = torch.rand(2)
    torch.manual_seed(3); a0 = torch.rand(2); c0 = torch.rand(2)
    torch.manual_seed(4); b0 = torch.rand(2)
    assert torch.equal(a, a0) and torch.equal(b, b0) and torch.equal(c, c0)
    out = []
    t = threading.Thread(target=_draws, args=(5, out, 2)); t.start(); t.join(timeout=60)
    assert not t.is_alive() and len(out) == 2


def test_seeded_releases_after_an_exception():
    with pytest.raises(KeyError):
        with seeded(1): raise KeyError('x')
    out = []
    t = threading.Thread(target=_draws, args=(1, out, 1)); t.start(); t.join(timeout=30)
    assert not t.is_alive() and len(out) == 1


@pytest.mark.parametrize('call', ['problem', 'cases'])
def test_bench_refuses_device_none(call):
    from sbn_estimators.bench import bench_problem, run_cases
    with pytest.raises(ValueError, match=r"device must be 'cpu', 'cuda' or 'cuda:N'.*got None"):
        bench_problem('cifar', device=None) if call == 'problem' else run_cases('fc', ['st'], device=None, batch=2, repeats=1)


def test_bench_dtype_has_help(capsys):
    from sbn_estimators.bench import bench_cli
    with pytest.raises(SystemExit): bench_cli(['--help'])
    help_text = ' '.join(capsys.readouterr().out.split())
    assert 'floating-point type of the network and data (default: float32)' in help_text, help_text


def test_fashion_mnist_not_found_offers_torchvision(tmp_path, monkeypatch):
    from sbn_estimators.data import read_idx_dataset, idx_folders, IDX_DATASETS
    monkeypatch.chdir(tmp_path)
    assert tmp_path / 'x' / 'FashionMNIST' / 'raw' in idx_folders('fashion_mnist', tmp_path / 'x')   # where torchvision puts them
    from pathlib import Path
    assert Path('data') / 'FashionMNIST' / 'raw' in idx_folders('fashion_mnist')
    with pytest.raises(FileNotFoundError) as e: read_idx_dataset('fashion_mnist', tmp_path)
    msg = str(e.value)
    assert '\n' not in msg and 'apt-get install dataset-fashion-mnist' in msg, msg
    assert "torchvision.datasets.FashionMNIST('data', download=True)" in msg and 'data/FashionMNIST/raw' in msg, msg


def test_annotations_match_behaviour():
    from sbn_estimators.exact import available_memory, exact_memory_limit
    from sbn_estimators.stats import binomial_z
    from sbn_estimators.summary import LayerSummary
    assert type(None) in typing.get_args(inspect.signature(available_memory).return_annotation)
    assert float in typing.get_args(inspect.signature(exact_memory_limit).return_annotation)
    sig = inspect.signature(binomial_z).parameters
    assert float in typing.get_args(sig['p'].annotation) and torch.Tensor in typing.get_args(sig['n'].annotation)
    assert type(None) in typing.get_args(LayerSummary.__annotations__['out_shape'])
    assert binomial_z(torch.tensor(5.), 10.0, 0.5).item() == 0.0   # a whole float n and a float p, as annotated
