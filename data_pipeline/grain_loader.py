"""The training input pipeline: records -> sampled clips -> augmented, padded batches (grain).

    it = build_train_iterator("dancetrack", root, batch_size=1, seed=42, shard=(pid, nproc),
                              num_workers=4, num_epochs=20)
    batch = next(it)            # dict of numpy arrays, fixed shapes (below)
    state = it.get_state()      # {"step": 1}; it.set_state(state) resumes after that batch,
                                # with any num_workers (build_train_iterator(start_step=...))

Epochs: the whole run (num_epochs) is one grain index space of batches. Epoch e has its own clip
list (the official `set_epoch`: stage lengths/intervals), shuffled by a permutation seeded from
(seed, e). Step s of epoch e takes the global batch perm[s*G : (s+1)*G], G = batch_size *
process_count, and process k keeps its slice [k*batch_size, (k+1)*batch_size): hosts never
overlap, an epoch's remainder (< G clips) is dropped, and a batch never mixes epochs (so all its
clips have one length). Each clip's randomness (interval, augmentation) comes from a Generator
seeded with (seed, epoch, position in the global permutation), so a batch is the same whatever
the worker count or how the run was interrupted and resumed.

Batch keys, B = batch_size (per process), T = clip length of the epoch, (H, W) = pad bucket,
M = PadConfig.max_objects:
  images               (B, T, H, W, 3) float32  ImageNet-normalized, zeros on padding
  pad_mask             (B, T, H, W)    bool     True = padding
  boxes                (B, T, M, 4)    float32  normalized cxcywh of the unpadded frame
  ids                  (B, T, M)       int32    track ids, -1 on padding
  labels               (B, T, M)       int32    0-based classes
  obj_mask             (B, T, M)       bool     True = a real object
  frame_sizes          (B, T, 2)       int32    (h, w) of the augmented frame before padding
  orig_sizes           (B, T, 2)       int32    (h, w) of the original image
  frame_indices        (B, T)          int32    MOT frame numbers, in clip order
  intervals            (B,)            int32    the sampled frame interval (official "intervals")
  epoch                (B,)            int32
  num_dropped_objects  (B, T)          int32    objects beyond M that were dropped
"""

from __future__ import annotations

import dataclasses
import functools

import grain.python as grain
import numpy as np
from absl import flags

from data_pipeline import builders, dataset_layouts, sampling, transforms
from data_pipeline.sampling import SamplerConfig
from data_pipeline.transforms import AugmentConfig, Clip, PadConfig
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.formats.frame_images import decode_rgb


@dataclasses.dataclass(frozen=True)
class _Source:
    """One dataset split feeding the clip list, and how its clips are drawn."""

    records: builders.SplitRecords
    kind: str
    first_epoch: int = 0  # MOT17 joins at SAMPLE_MOT17_JOIN


class ClipPlan:
    """Epoch schedule and per-process batch index space (cheap to pickle, no images)."""

    def __init__(
        self,
        sources: list[_Source],
        sampler: SamplerConfig,
        *,
        batch_size: int,
        seed: int,
        process_index: int,
        process_count: int,
        num_epochs: int,
    ):
        self.sources = sources
        self.sampler = sampler
        self.batch_size = batch_size
        self.seed = seed
        self.process_index = process_index
        self.process_count = process_count
        self.num_epochs = num_epochs
        global_batch = batch_size * process_count
        self.steps_per_epoch = [len(self.epoch_clips(e)) // global_batch for e in range(num_epochs)]
        self.epoch_offsets = np.concatenate([[0], np.cumsum(self.steps_per_epoch)]).astype(int)

    def __len__(self) -> int:
        return int(self.epoch_offsets[-1])

    @functools.lru_cache(maxsize=2)  # noqa: B019 (one plan per run; a few epochs cached)
    def epoch_clips(self, epoch: int) -> np.ndarray:
        """(N, 3) int64 rows (source, sequence, begin frame) of epoch's clips, unshuffled."""
        length = sampling.stage_for_epoch(self.sampler, epoch).length
        rows = []
        for s, src in enumerate(self.sources):
            if epoch < src.first_epoch:
                continue
            starts = sampling.begin_frames(src.records.sequences, src.kind, length)
            rows.append(np.concatenate([np.full((len(starts), 1), s), starts], axis=1))
        return np.concatenate(rows) if rows else np.zeros((0, 3), np.int64)

    @functools.lru_cache(maxsize=2)  # noqa: B019
    def epoch_permutation(self, epoch: int) -> np.ndarray:
        n = len(self.epoch_clips(epoch))
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def global_batch(self, index: int) -> tuple[int, list[int], np.ndarray]:
        """Batch index -> (epoch, positions in the epoch's permutation, clip rows (G, 3)) of
        the global batch (all processes); this process owns rows [k * B, (k + 1) * B)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        epoch = int(np.searchsorted(self.epoch_offsets, index, side="right") - 1)
        step = int(index - self.epoch_offsets[epoch])
        global_batch = self.batch_size * self.process_count
        positions = list(range(step * global_batch, (step + 1) * global_batch))
        rows = self.epoch_clips(epoch)[self.epoch_permutation(epoch)[positions]]
        return epoch, positions, rows


class ClipBatchSource(grain.RandomAccessDataSource):
    """Random access to this process's training batches: index -> padded batch dict."""

    def __init__(self, plan: ClipPlan, augment: AugmentConfig, pad: PadConfig, start: int = 0):
        self.plan = plan
        self.augment = augment
        self.pad = pad
        self.start = start  # item i is the run's batch start + i

    def __len__(self) -> int:
        return max(len(self.plan) - self.start, 0)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        plan = self.plan
        epoch, positions, rows = plan.global_batch(self.start + int(index))
        stage = sampling.stage_for_epoch(plan.sampler, epoch)
        # Draw every clip's frames and augmentation for the whole global batch (cheap, no
        # pixels), so that all processes pad to the same bucket.
        drawn = []
        for pos, (s, q, begin) in zip(positions, rows, strict=True):
            rng = np.random.default_rng([plan.seed, epoch, pos])
            src = plan.sources[s]
            seq = src.records.sequences[q]
            frames, interval = sampling.clip_frames(seq, src.kind, int(begin), stage, rng)
            params, out_hw = transforms.draw_augment(
                rng, seq.height, seq.width, self.augment, static=src.kind == sampling.STATIC
            )
            drawn.append((s, q, frames, interval, params, out_hw))
        bucket = transforms.choose_bucket([d[5] for d in drawn], self.pad.buckets)
        own = drawn[
            plan.process_index * plan.batch_size : (plan.process_index + 1) * plan.batch_size
        ]
        clips, intervals, orig = [], [], []
        for s, q, frames, interval, params, _ in own:
            src = plan.sources[s]
            clip = load_clip(src.records, q, frames)
            orig.append([img.shape[:2] for img in clip.images])
            clips.append(transforms.augment_clip(clip, params, self.augment))
            intervals.append(interval)
        out = transforms.pad_clips(clips, self.pad, self.augment.mean, self.augment.std, bucket)
        out["frame_indices"] = np.asarray([c.frames for c in clips], np.int32)  # clip order
        out["orig_sizes"] = np.asarray(orig, np.int32)
        out["intervals"] = np.asarray(intervals, np.int32)
        out["epoch"] = np.full((len(clips),), epoch, np.int32)
        return out

    def __repr__(self) -> str:
        return f"ClipBatchSource(batches={len(self.plan)}, start={self.start})"


def load_clip(records: builders.SplitRecords, seq: int, frames: list[int]) -> Clip:
    """Decodes the frames of one clip; boxes become xyxy pixels (official loaders)."""
    index = records.sequences[seq]
    clip = Clip(images=[], boxes=[], ids=[], labels=[], frames=list(frames))
    for t in frames:
        rec = records.frame(seq, t)
        where = f"{records.dataset_name}/{records.split} sequence {index.name} frame {t}"
        img = decode_rgb(rec["image"], where)
        if img.shape[:2] != (index.height, index.width):
            raise InputError(
                f"{where}: image is {img.shape[0]}x{img.shape[1]} but the sequence is "
                f"{index.height}x{index.width} (seqinfo.ini / first frame)"
            )
        clip.images.append(img)
        xywh = np.asarray(rec["boxes"], np.float32).reshape(-1, 4)
        clip.boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
        clip.ids.append(np.asarray(rec["ids"], np.int32))
        clip.labels.append(np.asarray(rec["labels"], np.int32))
    return clip


def train_sources(
    dataset_name: str,
    root: str,
    sampler: SamplerConfig,
    *,
    split: str = "train",
    prepared_dir: str | None = None,
) -> list[_Source]:
    key = dataset_layouts.canonical_name(dataset_name)
    records = builders.load_split(key, root, split, prepared_dir=prepared_dir)
    main = _Source(records, sampling.source_kind(key))
    if not sampler.use_crowdhuman:
        return [main]
    if key != "mot17":
        raise ValueError("use_crowdhuman is the MOT17 joint-training recipe (dataset mot17)")
    crowd = builders.load_split(
        "crowdhuman", root, sampler.crowdhuman_split, prepared_dir=prepared_dir
    )
    main = dataclasses.replace(main, first_epoch=sampler.mot17_join_epoch)
    return [_Source(crowd, sampling.STATIC), main]


def build_train_loader(
    dataset_name: str,
    root: str,
    *,
    sampler: SamplerConfig | None = None,
    augment: AugmentConfig | None = None,
    pad: PadConfig | None = None,
    batch_size: int = 1,
    seed: int = 0,
    shard: tuple[int, int] = (0, 1),
    num_workers: int = 0,
    num_epochs: int = 1,
    split: str = "train",
    prepared_dir: str | None = None,
    worker_buffer_size: int = 2,
    read_threads: int = 1,
    start_step: int = 0,
) -> tuple[grain.DataLoader, ClipPlan]:
    """The grain DataLoader of this process's batches and its ClipPlan (steps per epoch).

    Args:
      dataset_name: dancetrack, sportsmot, bft, mot17, bdd100k, synthetic (crowdhuman is
        used through sampler.use_crowdhuman with mot17).
      sampler, augment, pad: configs (defaults: official DanceTrack settings).
      root: folder holding the dataset folder (see dataset_layouts.py); records are prepared on first
        use under prepared_dir (default root/tfds_prepared).
      batch_size: clips per batch on this process.
      shard: (process_index, process_count), e.g. (jax.process_index(), jax.process_count()).
      num_workers: grain worker processes (0 = in the calling process).
      worker_buffer_size: batches each worker keeps ready.
      read_threads: threads (and batches in flight) per worker, or in the calling process.
      start_step: first batch of the run to produce (resume at a training step).
    """
    sampler = sampler or SamplerConfig()
    augment = augment or AugmentConfig()
    pad = pad or PadConfig()
    process_index, process_count = shard
    if not 0 <= process_index < process_count:
        raise ValueError(f"bad shard {shard}: expected (process_index, process_count)")
    sources = train_sources(dataset_name, root, sampler, split=split, prepared_dir=prepared_dir)
    plan = ClipPlan(
        sources,
        sampler,
        batch_size=batch_size,
        seed=seed,
        process_index=process_index,
        process_count=process_count,
        num_epochs=num_epochs,
    )
    source = ClipBatchSource(plan, augment, pad, start=start_step)
    if num_workers > 0 and not flags.FLAGS.is_parsed():
        # grain's worker processes read absl flags; outside absl.app (tests, notebooks) they are
        # unparsed, so take their defaults.
        flags.FLAGS.mark_as_parsed()
    loader = grain.DataLoader(
        data_source=source,
        sampler=grain.IndexSampler(
            num_records=len(source),
            shard_options=grain.NoSharding(),  # sharded by ClipPlan, per global batch
            shuffle=False,  # shuffled by ClipPlan, per epoch
            num_epochs=1,
            seed=seed,
        ),
        worker_count=num_workers,
        worker_buffer_size=worker_buffer_size,
        # A batch is already the unit of work (and ~150 MB at full resolution): grain's default
        # of 16 reader threads prefetching 500 elements per worker would hold gigabytes.
        read_options=grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=read_threads),
    )
    return loader, plan


class TrainIterator:
    """Batches of a run from a step on; its state is just the next step.

    get_state() -> {"step": n}; set_state(state) restarts the grain loader at batch n. A batch
    depends only on (seed, step), not on the worker count, so a run can resume with other
    num_workers (grain's own iterator state cannot). `plan.steps_per_epoch` gives the epochs.
    """

    def __init__(self, make_loader, plan: ClipPlan, step: int = 0):
        self._make_loader = make_loader
        self.plan = plan
        self.step = step
        self._it = iter(make_loader(step))

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        # Worker batches arrive in shared memory, which jax.device_put on a CPU may alias rather
        # than copy: device arrays would then hold grain's blocks past the loader's life (the
        # "leaked shared_memory objects" warning at exit). A copy frees each block at once.
        batch = {k: np.array(v) for k, v in next(self._it).items()}
        self.step += 1
        return batch

    def get_state(self) -> dict:
        return {"step": self.step}

    def set_state(self, state: dict) -> None:
        self.close()
        self.step = int(state["step"])
        self._it = iter(self._make_loader(self.step))

    def close(self) -> None:
        """Stops grain's worker processes now and frees the batches they prefetched.

        grain 0.2's DataLoaderIterator has no close() of its own (its workers stop when it is
        garbage collected); the dataset iterator inside it closes the whole pipeline.
        """
        inner = getattr(self._it, "_iterator", None)  # grain.DataLoaderIterator's pipeline
        if inner is not None and hasattr(inner, "close"):
            inner.close()


def build_train_iterator(
    dataset_name: str, root: str, *, start_step: int = 0, **kwargs
) -> TrainIterator:
    """The run's batches as a TrainIterator; arguments as build_train_loader."""
    _, plan = build_train_loader(dataset_name, root, **kwargs)

    def make_loader(step: int) -> grain.DataLoader:
        return build_train_loader(dataset_name, root, start_step=step, **kwargs)[0]

    return TrainIterator(make_loader, plan, start_step)
