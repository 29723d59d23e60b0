"""Cost of a foundation-model teacher: filling the teacher cache with Chronos-2's forecasts.

On ETTh1 windows (standardized; 7 channels; student lookback 96) this prints, for Darts'
tiny Chronos-2 test checkpoint (``../shared/models/tiny_chronos2``, or ``--checkpoint`` for
real weights):

- the time of one teacher call on a batch of 256 windows (the cache's batch) and per window,
  with the adapter's split into passes of at most ``SERIES_PER_CALL`` series and with the whole
  batch in one pass (Chronos-2's group attention is quadratic in the series of a pass);
- the fill time the teacher cache expects from its first batch (what it logs before filling
  the rest), then the measured time of filling it.

Usage::

    python benchmarks/foundation_teacher_time.py [--windows 1024] [--horizon 48]
        [--threads 1] [--checkpoint DIR] [--context 21] [--output 14]

Times are wall seconds (the estimate is what a user waits); CPU seconds of this process are
printed beside the call times, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsdistill_plugin import as_teacher  # noqa: E402
from tsdistill_plugin.core import TeacherCache, forecast_horizon  # noqa: E402
from tsdistill_plugin.darts import foundation  # noqa: E402

DATA = Path(os.environ.get("TSDISTILL_DATA", REPO.parent / "shared" / "data"))
MODELS = Path(os.environ.get("TSDISTILL_MODELS", REPO.parent / "shared" / "models"))
TRAIN_ROWS = 8640
LOOKBACK = 96
CACHE_BATCH = 256
QUIET = {"enable_progress_bar": False, "enable_model_summary": False, "logger": False}


def etth1_windows(n_windows: int) -> torch.Tensor:
    """The first ``n_windows`` windows ``[n, LOOKBACK, 7]`` of standardized ETTh1."""
    frame = pd.read_csv(DATA / "ETTh1.csv", index_col="date")
    train = frame.iloc[:TRAIN_ROWS]
    values = ((frame - train.mean()) / train.std(ddof=0)).to_numpy(np.float32)
    return torch.as_tensor(np.stack([values[i : i + LOOKBACK] for i in range(n_windows)]))


def timed_call(teacher, x: torch.Tensor, horizon: int, repeats: int = 3) -> tuple[float, float]:
    """Fastest wall and CPU seconds of one ``forecast_horizon`` call on ``x``."""
    forecast_horizon(teacher, x[:1], horizon)
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        forecast_horizon(teacher, x, horizon)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1024)
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint", type=Path, default=MODELS / "tiny_chronos2")
    parser.add_argument("--context", type=int, default=21, help="input_chunk_length")
    parser.add_argument("--output", type=int, default=14, help="output_chunk_length")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning_fabric", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from darts.models import Chronos2Model

    x = etth1_windows(args.windows)
    model = Chronos2Model(
        args.context, args.output, local_dir=args.checkpoint, pl_trainer_kwargs=QUIET
    )
    teacher = as_teacher(model)
    teacher.bind(LOOKBACK, args.horizon)
    teacher.fit([pd.DataFrame(x[0].numpy())])
    calls = -(-args.horizon // teacher.horizon)
    print(
        f"Chronos-2 ({args.checkpoint.name}), ETTh1 windows L={LOOKBACK}, 7 channels, "
        f"teacher context {teacher.input_len}, horizon {args.horizon} in {calls} call(s) of "
        f"{teacher.horizon}, {args.threads} thread(s)"
    )
    batch = x[:CACHE_BATCH]
    default = foundation.SERIES_PER_CALL
    for label, limit in (("split", default), ("one pass", 10**9)):
        foundation.SERIES_PER_CALL = limit
        wall, cpu = timed_call(teacher, batch, args.horizon)
        per_window = 1e3 * wall / len(batch)
        print(
            f"  batch of {len(batch)} windows, {label:8s} (<= {min(limit, len(batch) * 7)} "
            f"series per pass): {wall:7.3f} s wall, {cpu:7.3f} s CPU, {per_window:.2f} ms/window"
        )
    foundation.SERIES_PER_CALL = default
    start = time.perf_counter()
    cache = TeacherCache(teacher, x.numpy(), args.horizon, batch_size=CACHE_BATCH, progress=False)
    filled = time.perf_counter() - start
    print(
        f"  {len(x)} windows: the cache expected {cache.estimated_seconds:.1f} s after its first "
        f"batch, and was filled in {filled:.1f} s"
    )


if __name__ == "__main__":
    main()
