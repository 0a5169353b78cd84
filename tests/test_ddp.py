"Distributed data parallel on CPU: two gloo processes with batch B/2 each match one process with batch B."
import subprocess, sys
import torch
from sbn_estimators.train import TrainConfig, train, load_checkpoint

CFG = dict(model='sbn_mlp:width=16', estimator='mean_field', epochs=2, batch_size=64, eval_samples=1, seed=1, device='cpu')

def test_two_processes_match_one(tmp_path):
    # mean_field is deterministic, so the only difference between the runs is how the batch is split and reduced
    one = train(TrainConfig(**CFG), tmp_path / 'one', progress=False)['model']
    script = tmp_path / 'run.py'
    script.write_text("import torch, sys\ntorch.set_num_threads(1)\nfrom sbn_estimators.train import TrainConfig, train\n"
                      f"train(TrainConfig(**{CFG!r}), sys.argv[1], progress=False)\n")
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2',
                        str(script), str(tmp_path / 'two')], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    two = load_checkpoint(tmp_path / 'two' / 'last.pt')
    assert len(two['rng']) == 2                                  # both processes' random states are saved
    for k, v in one.state_dict().items():
        torch.testing.assert_close(two['model'][k], v, rtol=1e-4, atol=1e-5)
    for a, b in zip(*(load_checkpoint(tmp_path / r / 'last.pt')['metrics'] for r in ('one', 'two'))):   # over the global batch, not rank 0's half
        for k in ('train_loss', 'train_acc', 'val_loss', 'val_acc'): torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    w0 = load_checkpoint(tmp_path / 'one' / 'last.pt')['model']['layers.0.weight']
    assert not torch.equal(w0, train(TrainConfig(**{**CFG, 'epochs': 1}), progress=False)['model'].state_dict()['layers.0.weight'])
