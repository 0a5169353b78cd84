"Review s58 (main): result.json lists every version that trained the run, as the checkpoints do."
import json
from sbn_estimators import __version__
from sbn_estimators.train import TrainConfig, train

def test_result_json_records_every_version_that_trained_the_run(tmp_path):
    out = tmp_path / 'run'
    train(TrainConfig(data='cos', estimator='st', epochs=1, device='cpu', n_train=32, batch_size=16, val=16, n_test=16), out=out, progress=False)
    res = json.loads((out / 'result.json').read_text())
    assert res['sbn_estimators_seen'] == [__version__] and res['environment']['sbn_estimators'] == __version__
