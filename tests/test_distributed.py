"""Two CPU processes under torch.distributed.run (gloo): identical weights, only rank 0 writes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from helpers import write_images


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_hold_identical_weights_and_only_rank0_writes(tmp_path):
    train = write_images(tmp_path / "train", 24)
    val = write_images(tmp_path / "val", 4, seed=1)
    out, log = tmp_path / "run", tmp_path / "log"
    log.mkdir()
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(worker), str(train), str(val), str(out), str(log)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = [json.loads((log / f"weights-rank{r}.json").read_text())["sha256"] for r in (0, 1)]
    assert digests[0] == digests[1]
    assert (log / "writes-rank0.txt").read_text().count("model best.safetensors") >= 1
    assert not (log / "writes-rank1.txt").exists()
    assert (out / "best.safetensors").exists()
