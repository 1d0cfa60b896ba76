"""Run by tests/test_distributed.py under torch.distributed.run: a tiny pretraining on 2 CPU ranks."""

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

import flowrestore.serialization as serialization
import flowrestore.training.loop as loop
from flowrestore.training import LoopConfig, PretrainConfig, pretrain

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TINY_GLOW  # noqa: E402

train, val, out, log = (Path(a) for a in sys.argv[1:5])
rank = os.environ["RANK"]


def logged(fn, what):
    def wrapper(path, *args, **kwargs):
        with open(log / f"writes-rank{rank}.txt", "a") as f:
            f.write(f"{what} {Path(path).name}\n")
        return fn(path, *args, **kwargs)

    return wrapper


loop.save_state = logged(loop.save_state, "state")
objective = sys.modules["flowrestore.training.objective"]
objective.save_model = logged(serialization.save_model, "model")

torch.set_num_threads(1)
config = PretrainConfig(
    train_dir=train, val_dir=val, out_dir=out, glow=TINY_GLOW, image_size=16, lr=5e-3, warmup_steps=2,
    device="cpu", loop=LoopConfig(batch_size=8, max_steps=6, eval_every=3),
)
result = pretrain(config)
digest = hashlib.sha256()
for name, t in sorted(result.model.state_dict().items()):
    digest.update(name.encode())
    digest.update(t.detach().float().numpy().tobytes())
(log / f"weights-rank{rank}.json").write_text(json.dumps({"sha256": digest.hexdigest()}))
