"""How the NeuralForecast student trains on ETTh1, one change of the training set-up at a time.

Run: ``python benchmarks/nf_training_schedule.py --variant baseline --seeds 2021 1 2 3``
(``--list`` names the changes, ``--variant a+b`` applies several; ``--horizon``; ``--alpha 2
--beta 2 --teacher-dir DIR`` distils from the benchmark's iTransformer teacher, fitted once per
seed and saved in ``DIR``; ``--darts`` trains the Darts backend's plain student instead, the
reference point).

``baseline`` is the student as ``tsdistill benchmark --backend neuralforecast`` trains it (the
backend's data frame and arguments for the reference's plan: lr 0.01 halved every epoch after
the second, at most 100 epochs of ``ceil(training windows / 32)`` steps, validation every
epoch, early stopping after 5 epochs without improvement, the best epoch's weights restored);
each change alters one thing. Test MSE / MAE are the benchmark's (standardized scale, every
stride-1 test window, channels in the data's column order). Printed per seed: the metrics,
the steps run, epochs-equivalent (windows drawn / training windows), the validation losses,
wall and CPU time of the fit; and the mean over the seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from tsdistill_plugin.benchmark.backends import nf_backend
from tsdistill_plugin.benchmark.backends.base import Fitted, StudentSetup, Task, predictor
from tsdistill_plugin.benchmark.backends.nf_backend import NeuralForecastBackend, _training_kwargs
from tsdistill_plugin.benchmark.backends.reference import STUDENT_LR, TrainingPlan, teacher_config
from tsdistill_plugin.benchmark.data import load_dataset
from tsdistill_plugin.benchmark.experiment import _evaluate
from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate
from tsdistill_plugin.teachers import as_teacher


class ShuffledSeries:
    """Mixin: NeuralForecast's own training loader, which shuffles the series of every batch
    (the student's default before the fix: channel ``i`` is a random series each step)."""

    KEEP_SERIES_ORDER = False


@contextlib.contextmanager
def alphabetical_ids() -> Iterator[None]:
    """The backend's data frame with the column names as series ids (as before the fix):
    NeuralForecast orders a multivariate model's series by id, so ETTh1's MUFL/MULL and
    LUFL/LULL trade places against the channel order of the benchmark's test windows."""
    original = nf_backend.frames_to_long

    def by_name(frames: list) -> tuple:
        df, freq = original(frames)
        return df.assign(unique_id=df["unique_id"].str.split(":", n=1).str[1]), freq

    nf_backend.frames_to_long = by_name
    try:
        yield
    finally:
        nf_backend.frames_to_long = original


class EpochPass:
    """Mixin: each step's windows come from a permutation of all training windows, renewed
    once every window was drawn (a pass over the data per epoch), instead of NeuralForecast's
    fresh random sample at every step."""

    _order: Tensor | None = None
    _cursor = 0

    def _sample_windows(self, windows_temporal: Tensor, *args: Any, **kwargs: Any) -> dict:
        w_idxs, final_condition = kwargs["w_idxs"], kwargs["final_condition"]
        if self.training and len(w_idxs) == self.windows_batch_size:
            n = len(final_condition)
            if self._order is None or self._cursor >= n:
                self._order, self._cursor = torch.randperm(n, device=w_idxs.device), 0
            kwargs["w_idxs"] = self._order[self._cursor : self._cursor + self.windows_batch_size]
            self._cursor += self.windows_batch_size
        return super()._sample_windows(windows_temporal, *args, **kwargs)


class SharedBatchNorm(nn.Module):
    """One BatchNorm channel shared by all series: ``[batch, series, d]`` normalized as
    ``[batch * series, 1, d]`` (the univariate ``DistilledMLP``'s layout)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.reshape(-1, 1, x.shape[-1])).reshape(x.shape)


class SharedBN:
    """Mixin: one BatchNorm channel shared by all series in both branches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for branch in (self.dmlp.seasonal, self.dmlp.trend):
            branch.norm = SharedBatchNorm()


Arguments = dict[str, Any]


def _same(arguments: Arguments, task: Task) -> Arguments:
    return arguments


@dataclass(frozen=True)
class Change:
    """One change to how the NF student trains.

    Attributes
    ----------
    description
        What changes.
    mixin
        A class put before the student class, or ``None``.
    arguments
        Maps the NF arguments (and the task) to the changed ones.
    patch
        A context manager active while the student is fitted.
    univariate
        Train the channel-independent ``DistilledMLP`` with the backend's univariate arguments.
    """

    description: str
    mixin: type | None = None
    arguments: Callable[[Arguments, Task], Arguments] = _same
    patch: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    univariate: bool = False


def _constant_lr(arguments: Arguments, task: Task) -> Arguments:
    kept = {k: v for k, v in arguments.items() if k not in ("lr_scheduler", "lr_scheduler_kwargs")}
    return {**kept, "num_lr_decays": -1}  # NeuralForecast's constant rate


def _all_series_per_step(arguments: Arguments, task: Task) -> Arguments:
    return {**arguments, "batch_size": task.n_channels}


CHANGES: dict[str, Change] = {
    "baseline": Change("the NF backend's data and arguments as they are"),
    "shuffled_series": Change("NF shuffles the series of every batch", ShuffledSeries),
    "alphabetical_ids": Change("series ids sorted by name", patch=alphabetical_ids),
    "epoch_pass": Change("windows drawn as a pass over the data each epoch", EpochPass),
    "full_windows": Change(
        "no training window whose horizon runs past the training split",
        arguments=lambda a, t: {**a, "training_data_availability_threshold": [0.0, 1.0]},
    ),
    "shared_bn": Change("one BatchNorm channel shared by all series", SharedBN),
    "constant_lr": Change("no learning-rate halving", arguments=_constant_lr),
    "univariate": Change("DistilledMLP, one series' windows per step (32 x N)", univariate=True),
    "mixed_series": Change(
        "univariate: windows of all series in every step",
        arguments=_all_series_per_step,
    ),
}
"""Changes; ``--variant a+b`` applies several."""


def student_class(names: list[str]) -> type:
    """The student class with the mixins of the changes ``names``."""
    univariate = any(CHANGES[name].univariate for name in names)
    base = DistilledMLP if univariate else DistilledMLPMultivariate
    mixins = tuple(CHANGES[name].mixin for name in names if CHANGES[name].mixin is not None)
    return type("+".join(names), (*mixins, base), {}) if mixins else base


def _fit_teacher(
    backend: NeuralForecastBackend, task: Task, directory: Path | None
) -> tuple[object, float]:
    """The benchmark's iTransformer teacher, loaded from ``directory`` when saved there."""
    from neuralforecast.models import iTransformer

    path = None if directory is None else directory / f"teacher_h{task.horizon}_s{task.seed}.ckpt"
    if path is not None and path.exists():
        return iTransformer.load(str(path)), 0.0
    fitted = backend.fit_teacher(teacher_config("itransformer", task.dataset.name), task)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fitted.model.save(str(path))
    return fitted.model, fitted.train_seconds


def test_errors(fitted: Fitted, task: Task) -> tuple[float, float]:
    """MSE and MAE over every stride-1 test window, computed as the benchmark does."""
    x, y = task.dataset.windows("test", task.lookback, task.horizon)
    forecast = predictor(fitted, task.horizon)
    figures = _evaluate(forecast, x, y, 512, torch.device("cpu"), tqdm(disable=True))
    return figures.mse, figures.mae


def train_and_test(
    names: list[str], task: Task, teacher: object | None, args: argparse.Namespace
) -> dict[str, float]:
    """Fit the student with the changes ``names`` and return its figures."""
    changes = [CHANGES[name] for name in names]
    multivariate = not any(change.univariate for change in changes)
    plan = TrainingPlan(lr=STUDENT_LR, epochs=args.epochs)
    arguments = _training_kwargs(plan, task, multivariate=multivariate, callbacks=())
    for change in changes:
        arguments = change.arguments(arguments, task)
    if multivariate:
        arguments["n_series"] = task.n_channels
    student = student_class(names)(
        h=task.horizon,
        input_size=task.lookback,
        teacher=teacher,
        hidden_size=512,
        norm="mean",
        alpha=args.alpha,
        beta=args.beta,
        **arguments,
    )
    torch.manual_seed(task.seed)
    cpu = time.process_time()
    with contextlib.ExitStack() as stack:
        for change in changes:
            stack.enter_context(change.patch())
        fitted = NeuralForecastBackend()._fit_timed(student, task)
    cpu = time.process_time() - cpu
    model = fitted.model
    steps = len(model.train_trajectories)
    windows = task.n_train_windows() * (1 if multivariate else task.n_channels)
    validations = [loss for step, loss in model.valid_trajectories if step > 0]
    mse, mae = test_errors(fitted, task)
    print(
        f"seed {task.seed}: test MSE {mse:.4f} MAE {mae:.4f} | steps {steps}, epochs-equivalent "
        f"{steps * model.windows_batch_size / windows:.2f}, validations {len(validations)}, "
        f"best val {min(validations):.4f} at validation "
        f"{validations.index(min(validations)) + 1} | wall {fitted.train_seconds:.1f} s, "
        f"CPU {cpu:.1f} s",
        flush=True,
    )
    print("  val losses " + " ".join(f"{loss:.4f}" for loss in validations), flush=True)
    return {"mse": mse, "mae": mae}


def train_and_test_darts(task: Task, args: argparse.Namespace) -> dict[str, float]:
    """Fit the Darts backend's plain student (the reference point) and return its figures."""
    from tsdistill_plugin.benchmark.backends.darts_backend import DartsBackend

    spec = StudentSetup(512, "mean", 0.0, 0.0, TrainingPlan(lr=STUDENT_LR, epochs=args.epochs))
    torch.manual_seed(task.seed)
    cpu = time.process_time()
    fitted = DartsBackend().fit_student(spec, None, task)
    cpu = time.process_time() - cpu
    mse, mae = test_errors(fitted, task)
    print(
        f"seed {task.seed}: test MSE {mse:.4f} MAE {mae:.4f} | epochs {fitted.epochs} | wall "
        f"{fitted.train_seconds:.1f} s, CPU {cpu:.1f} s",
        flush=True,
    )
    return {"mse": mse, "mae": mae}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="baseline", help="changes joined by '+'")
    parser.add_argument("--list", action="store_true", help="print the changes and exit")
    parser.add_argument("--dataset", default="ETTh1")
    parser.add_argument("--data-dir", help="folder holding the data set's CSV file")
    parser.add_argument("--lookback", type=int, default=720)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--epochs", type=int, default=100, help="maximum epochs")
    parser.add_argument("--alpha", type=float, default=0.0)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--teacher-dir", type=Path, help="where the fitted teacher is saved")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--darts", action="store_true", help="the Darts backend's plain student instead"
    )
    args = parser.parse_args()
    if args.list:
        for name, change in CHANGES.items():
            print(f"{name:17s} {change.description}")
        return
    names = args.variant.split("+")
    unknown = [name for name in names if name not in CHANGES]
    if unknown:
        parser.error(f"unknown change(s) {unknown}; --list names them")
    if args.darts and (args.alpha or args.beta or args.variant != "baseline"):
        parser.error("--darts trains the Darts plain student only; drop --alpha/--beta/--variant")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    for name in ("lightning_fabric", "pytorch_lightning", "lightning", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)

    dataset = load_dataset(args.dataset, args.data_dir)
    what = (
        "the Darts backend's plain student"
        if args.darts
        else f"variant {args.variant}: " + "; ".join(CHANGES[name].description for name in names)
    )
    print(
        f"{what}. {args.dataset} L={args.lookback} H={args.horizon} alpha {args.alpha} beta "
        f"{args.beta}",
        flush=True,
    )
    results = []
    for seed in args.seeds:
        task = Task(dataset, args.lookback, args.horizon, seed, "cpu")
        if args.darts:
            results.append(train_and_test_darts(task, args))
            continue
        teacher = None
        if args.alpha or args.beta:
            torch.manual_seed(seed)
            model, seconds = _fit_teacher(NeuralForecastBackend(), task, args.teacher_dir)
            print(f"seed {seed}: teacher fitted in {seconds:.1f} s (0: loaded)", flush=True)
            teacher = as_teacher(model, feature_layer="auto")
        results.append(train_and_test(names, task, teacher, args))
    if len(results) > 1:
        mses = [r["mse"] for r in results]
        print(
            f"mean over seeds {args.seeds}: test MSE {statistics.fmean(mses):.4f} "
            f"(min {min(mses):.4f}, max {max(mses):.4f}) MAE "
            f"{statistics.fmean(r['mae'] for r in results):.4f}"
        )


if __name__ == "__main__":
    main()
