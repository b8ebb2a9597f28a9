"""Training logs: a progress bar, TensorBoard scalars (tensorboardX, no TensorFlow) and JSON lines.

    <workdir>/metrics.jsonl   one object per logged step: {"step": ..., "loss": ..., ...}
    <workdir>/eval.jsonl      one object per evaluation: {"step": ..., "HOTA": ..., ...}
    <workdir>/tb/             TensorBoard event files (train/*, eval/*)

Only process 0 writes. A resumed run first drops the lines of steps after its checkpoint, so
the files read as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
import pathlib

import jax
import tqdm
from absl import logging

METRICS_JSONL = "metrics.jsonl"
EVAL_JSONL = "eval.jsonl"


def _truncate_after(path: pathlib.Path, step: int) -> None:
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def device_memory() -> dict[str, float]:
    """Memory of the first local device in GiB (empty where the backend reports none, e.g. CPU)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    names = {"bytes_in_use": "memory_gib", "peak_bytes_in_use": "memory_peak_gib"}
    return {name: stats[key] / 2**30 for key, name in names.items() if key in stats}


def _jsonable(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


class TrainLogger:
    """Progress bar with ETA and loss, TensorBoard and JSON-lines writers of one run."""

    def __init__(self, workdir: str | pathlib.Path, *, total_steps: int, start_step: int):
        self.enabled = jax.process_index() == 0
        self.workdir = pathlib.Path(workdir)
        if not self.enabled:
            return
        from tensorboardX import SummaryWriter  # noqa: PLC0415 (only process 0 needs it)

        for name in (METRICS_JSONL, EVAL_JSONL):
            _truncate_after(self.workdir / name, start_step)
        self.bar = tqdm.tqdm(
            total=total_steps, initial=start_step, unit="step", desc="train", dynamic_ncols=True
        )
        self.tb = SummaryWriter(str(self.workdir / "tb"))

    def advance(self, steps: int = 1) -> None:
        """Moves the bar (no device sync)."""
        if self.enabled:
            self.bar.update(steps)

    def _append(self, name: str, record: dict) -> None:
        with open(self.workdir / name, "a") as f:
            f.write(json.dumps(record) + "\n")

    def write_train(self, step: int, scalars: dict[str, float]) -> None:
        """Logs one step's (averaged) training scalars; `scalars` holds `loss`."""
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _jsonable(v) for k, v in sorted(scalars.items())}}
        self._append(METRICS_JSONL, record)
        for k, v in scalars.items():
            self.tb.add_scalar(f"train/{k}", float(v), step)
        self.tb.flush()
        self.bar.set_postfix(loss=f"{float(scalars['loss']):.4f}", refresh=False)

    def write_eval(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._append(
            EVAL_JSONL, {"step": int(step), **{k: _jsonable(v) for k, v in scalars.items()}}
        )
        for k, v in scalars.items():
            self.tb.add_scalar(f"eval/{k}", float(v), step)
        self.tb.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            logging.info("%s", text)

    def close(self) -> None:
        if self.enabled:
            self.bar.close()
            self.tb.close()
