"""tfds builders: the official dataset layouts -> ArrayRecord files of one record per frame.

No TensorFlow is needed: tfds 4.9.10 writes and reads ArrayRecord with its numpy code paths
(``file_format="array_record"``, ``as_data_source``). Each builder reads the raw files from a
manual dir (``root``, see dataset_layouts.py for the layouts) and is prepared automatically on first use
(tfds shows progress bars). Only splits with ground truth are built (train/val; MOT17 train);
test splits are read frame by frame with `dataset_layouts.read_sequence`.

One record per frame, flat features (no nested ragged features):

  sequence   str                   sequence name
  frame      int32                 MOT frame number (file stem), 1-based
  image      bytes                 the original encoded .jpg/.png bytes, not re-encoded
  height     int32, width int32    image size in pixels
  boxes      float32 (N, 4)        pixel (x, y, w, h) of the top-left corner, as in gt files
  ids        int32 (N,)            track ids (MOT17: renumbered as the official generator does)
  labels     int32 (N,)            0-based class
  visibility float32 (N,)          MOT17 column 9, 1 elsewhere

Records are written in order (shuffling disabled): sequence by sequence, frames ascending. The
split's sequence index (record offset, frame numbers, per-frame object counts, seqinfo) is kept
in the dataset's metadata.json, so nothing has to scan the records to find a frame.

Every image in [first, last] frame of a sequence is stored, frames without objects included
(the official loaders read those frames with empty annotations).

The records remember what they were built from: metadata.json's `sources` maps every annotation
file read (seqmaps, seqinfo.ini, gt files, .odgt, BDD100K label json; not the images) to the
sha256 of its content. `load_split` refuses records whose sources changed since
(`InputError`: re-run `python -m data_pipeline.prepare`), and `prepare` rebuilds them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from data_pipeline import dataset_layouts
from data_pipeline.dataset_layouts import FrameAnnotations
from sambamotr_jax.formats import frame_images
from sambamotr_jax.formats import sequence_folder as seq_files
from sambamotr_jax.formats.errors import InputError
from sambamotr_jax.formats.sequence_folder import SeqInfo

VERSION = "1.0.0"

_FEATURES = {
    "sequence": tfds.features.Text(),
    "frame": np.int32,
    "image": tfds.features.Tensor(shape=(), dtype=np.object_),
    "height": np.int32,
    "width": np.int32,
    "boxes": tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
    "ids": tfds.features.Tensor(shape=(None,), dtype=np.int32),
    "labels": tfds.features.Tensor(shape=(None,), dtype=np.int32),
    "visibility": tfds.features.Tensor(shape=(None,), dtype=np.float32),
}


@dataclasses.dataclass
class _RawSequence:
    name: str
    info: SeqInfo  # im_width / im_height always set
    frame_paths: dict[int, str]  # frame number -> image path
    gt: dict[int, FrameAnnotations]


class _MotBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared builder logic; subclasses say where the sequences of a split are.

    The builders are not registered in the tfds catalog (no name clashes; `BUILDERS` maps our
    dataset names to them).
    """

    VERSION = tfds.core.Version(VERSION)
    DATASET_KEY = ""  # key of dataset_layouts.DATASET_DIRS
    SPLITS: tuple[str, ...] = ("train", "val")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder that holds the dataset folder as root."

    # tfds looks for a checksums file beside the builder's code through `importlib_resources`,
    # which is not installed (and nothing is downloaded here): no code path, no checksums.
    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        return None

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.DATASET_KEY}: one record per frame (see data_pipeline/builders.py)",
            features=tfds.features.FeaturesDict(_FEATURES),
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,
        )

    def _present_splits(self, base: str) -> list[str]:
        return [s for s in self.SPLITS if os.path.isdir(os.path.join(base, s))]

    def _read_split(self, root: str, split: str) -> list[_RawSequence]:
        raise NotImplementedError

    def _split_sources(self, base: str, split: str) -> list[str]:
        """The annotation files `_read_split` reads for `split` (those that exist)."""
        raise NotImplementedError

    def source_fingerprint(self, root: str) -> dict[str, str]:
        """{path relative to root: sha256 of its content} of the annotation files of every
        split that is built (what metadata.json's `sources` holds)."""
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        files = sorted(
            {f for split in self._present_splits(base) for f in self._split_sources(base, split)}
        )
        return {os.path.relpath(f, root): _sha256(f) for f in files if os.path.isfile(f)}

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        splits = self._present_splits(base)
        if not splits:
            raise InputError(
                f"{base}: no split folder among {self.SPLITS} (is root={root!r} right?)"
            )
        self.info.metadata[SOURCES] = self.source_fingerprint(root)
        out = {}
        for split in splits:
            seqs = self._read_split(root, split)
            self.info.metadata[split] = _index_metadata(seqs)
            out[split] = self._generate_examples(seqs)
        return out

    def _generate_examples(self, seqs: list[_RawSequence]) -> Iterator[tuple[str, dict]]:
        empty = dataset_layouts.empty_annotations()
        for seq in seqs:
            for t in _stored_frames(seq):
                path = seq.frame_paths[t]
                with open(path, "rb") as f:
                    data = f.read()
                frame_images.check_complete(data, path)  # a truncated file is not stored
                ann = seq.gt.get(t, empty)
                yield (
                    f"{seq.name}/{t:08d}",
                    {
                        "sequence": seq.name,
                        "frame": t,
                        "image": data,
                        "height": seq.info.im_height,
                        "width": seq.info.im_width,
                        "boxes": ann.boxes,
                        "ids": ann.ids,
                        "labels": ann.labels,
                        "visibility": ann.visibility,
                    },
                )


# The metadata.json key of the source fingerprint (not a split name).
SOURCES = "sources"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _seqmap_sources(base: str, split: str, files_of_sequence) -> list[str]:
    seqmap = os.path.join(base, f"{split}_seqmap.txt")
    if not os.path.isfile(seqmap):
        return [seqmap]
    names = seq_files.read_seqmap(seqmap)
    return [seqmap, *(f for name in names for f in files_of_sequence(name))]


def _stored_frames(seq: _RawSequence) -> list[int]:
    """All frames from the first to the last annotated one (all images if none is annotated)."""
    if not seq.gt:
        return sorted(seq.frame_paths)
    return list(range(min(seq.gt), max(seq.gt) + 1))


def _check_images(seq: _RawSequence, where: str) -> None:
    for t in _stored_frames(seq):
        if t not in seq.frame_paths:
            raise InputError(
                f"{where}: image of frame {t} of sequence {seq.name} not found "
                f"(frames on disk: {min(seq.frame_paths, default=None)}.."
                f"{max(seq.frame_paths, default=None)})"
            )


def _index_metadata(seqs: list[_RawSequence]) -> list[dict]:
    index = []
    start = 0
    for seq in seqs:
        frames = _stored_frames(seq)
        index.append(
            {
                "name": seq.name,
                "start": start,
                "first_frame": frames[0],
                "num_frames": len(frames),
                "num_objects": [int(len(seq.gt[t].ids)) if t in seq.gt else 0 for t in frames],
                "frame_rate": seq.info.frame_rate or 0.0,  # 0: unknown
                "width": seq.info.im_width,
                "height": seq.info.im_height,
            }
        )
        start += len(frames)
    return index


class _SeqmapBuilder(_MotBuilder, skip_registration=True):
    """DanceTrack-style layout: <split>_seqmap.txt, <split>/<seq>/{img1,gt/gt.txt,seqinfo.ini}."""

    CHECK_DIGITS: tuple[int, int, int] | None = (1, 1, 1)
    CLASS_COLUMN = False

    def _read_split(self, root, split):
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        seqs = []
        for name in seq_files.read_seqmap(os.path.join(base, f"{split}_seqmap.txt")):
            seq_dir = os.path.join(base, split, name)
            if not os.path.isdir(seq_dir):
                raise InputError(f"{seq_dir}: sequence listed in the seqmap not found")
            info = seq_files.read_seqinfo(seq_dir)
            gt = dataset_layouts.parse_mot_gt(
                os.path.join(seq_dir, "gt", "gt.txt"),
                check_digits=self.CHECK_DIGITS,
                class_column=self.CLASS_COLUMN,
                seq_length=info.seq_length,
            )
            image_dir = os.path.join(seq_dir, info.im_dir)
            frames = dataset_layouts.frame_files(image_dir)
            seq = _RawSequence(
                name=name,
                info=dataset_layouts.info_from_frames(name, frames, info),
                frame_paths=frames,
                gt=gt,
            )
            _check_images(seq, image_dir)
            seqs.append(seq)
        return seqs

    def _split_sources(self, base, split):
        return _seqmap_sources(
            base,
            split,
            lambda name: [
                os.path.join(base, split, name, "gt", "gt.txt"),
                os.path.join(base, split, name, "seqinfo.ini"),
            ],
        )


class MotDancetrack(_SeqmapBuilder, skip_registration=True):
    """DanceTrack (official loader: all labels 0, check digits 1,1,1)."""

    DATASET_KEY = "dancetrack"


class MotSportsmot(_SeqmapBuilder, skip_registration=True):
    """SportsMOT: the DanceTrack layout and rules (the official code uses the same class)."""

    DATASET_KEY = "sportsmot"


class MotSynthetic(_SeqmapBuilder, skip_registration=True):
    """The generated dataset of data_pipeline.synthetic_mot; class from gt column 8."""

    DATASET_KEY = "synthetic"
    CLASS_COLUMN = True


class MotBft(_MotBuilder, skip_registration=True):
    """BFT: frames in <split>/<seq>/, gt in annotations_mot/<split>/<seq>.txt, digits -1,-1,-1."""

    DATASET_KEY = "bft"

    def _read_split(self, root, split):
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        seqs = []
        for name in seq_files.read_seqmap(os.path.join(base, f"{split}_seqmap.txt")):
            seq_dir = os.path.join(base, split, name)
            frames = dataset_layouts.frame_files(seq_dir)
            gt = dataset_layouts.parse_mot_gt(
                os.path.join(base, "annotations_mot", split, f"{name}.txt"),
                check_digits=(-1, -1, -1),
            )
            info = dataset_layouts.info_from_frames(name, frames)
            seq = _RawSequence(name=name, info=info, frame_paths=frames, gt=gt)
            _check_images(seq, seq_dir)
            seqs.append(seq)
        return seqs

    def _split_sources(self, base, split):
        return _seqmap_sources(
            base, split, lambda name: [os.path.join(base, "annotations_mot", split, f"{name}.txt")]
        )


class MotMot17(_MotBuilder, skip_registration=True):
    """MOT17 train with the official ground-truth filtering and id renumbering.

    Only the SDP copy of each sequence is kept when the seqmap names detector copies (the three
    copies share one gt; the official MOT17 loader trains on the "SDP" sequences).
    """

    DATASET_KEY = "mot17"
    SPLITS = ("train",)

    def _read_split(self, root, split):
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        names = seq_files.read_seqmap(os.path.join(base, f"{split}_seqmap.txt"))
        if any(n.endswith(("-SDP", "-FRCNN", "-DPM")) for n in names):
            names = [n for n in names if "SDP" in n]
        id_state = [0, -1]  # running counter across sequences, as gen_mot17_gts.py
        seqs = []
        for name in names:
            seq_dir = os.path.join(base, split, name)
            if not os.path.isdir(seq_dir):
                raise InputError(f"{seq_dir}: sequence listed in the seqmap not found")
            info = seq_files.read_seqinfo(seq_dir)
            image_dir = os.path.join(seq_dir, info.im_dir)
            frames = dataset_layouts.frame_files(image_dir)
            seq = _RawSequence(
                name=name,
                info=dataset_layouts.info_from_frames(name, frames, info),
                frame_paths=frames,
                gt=dataset_layouts.parse_mot17_gt(
                    os.path.join(seq_dir, "gt", "gt.txt"), id_state, seq_length=info.seq_length
                ),
            )
            _check_images(seq, image_dir)
            seqs.append(seq)
        return seqs

    _split_sources = _SeqmapBuilder._split_sources


class MotCrowdhuman(_MotBuilder, skip_registration=True):
    """CrowdHuman full-body boxes; each image is a one-frame sequence (a static pseudo-clip)."""

    DATASET_KEY = "crowdhuman"

    def _present_splits(self, base):
        return [
            s for s in self.SPLITS if os.path.isfile(os.path.join(base, f"annotation_{s}.odgt"))
        ]

    def _split_sources(self, base, split):
        return [os.path.join(base, f"annotation_{split}.odgt")]

    def _read_split(self, root, split):
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        seqs = []
        for image_id, ann in dataset_layouts.parse_crowdhuman_odgt(
            os.path.join(base, f"annotation_{split}.odgt")
        ):
            path = dataset_layouts.crowdhuman_image_path(base, split, image_id)
            info = dataset_layouts.info_from_frames(image_id, {1: path})
            seqs.append(_RawSequence(name=image_id, info=info, frame_paths={1: path}, gt={1: ann}))
        return seqs


class MotBdd100k(_MotBuilder, skip_registration=True):
    """BDD100K MOT 2020: 8 classes, crowd and other categories filtered (gen_bdd100k_gts.py)."""

    DATASET_KEY = "bdd100k"

    def _present_splits(self, base):
        return [
            s for s in self.SPLITS if os.path.isdir(os.path.join(base, "labels", "box_track_20", s))
        ]

    def _split_sources(self, base, split):
        label_dir = os.path.join(base, "labels", "box_track_20", split)
        return [os.path.join(label_dir, f) for f in os.listdir(label_dir) if f.endswith(".json")]

    def _read_split(self, root, split):
        base = dataset_layouts.dataset_dir(self.DATASET_KEY, root)
        seqs = []
        for name in dataset_layouts.list_sequences("bdd100k", root, split):
            label_path = os.path.join(base, "labels", "box_track_20", split, f"{name}.json")
            image_dir = os.path.join(base, "images", "track", split, name)
            frames = dataset_layouts.frame_files(image_dir)
            gt = {}
            for fname, ann in dataset_layouts.parse_bdd100k_json(label_path).items():
                t = seq_files.frame_number(fname)
                if t not in frames:
                    raise InputError(
                        f"{label_path}: image {os.path.join(image_dir, fname)} not found"
                    )
                if len(ann.ids):
                    gt[t] = ann
            info = dataset_layouts.info_from_frames(name, frames)
            seq = _RawSequence(name=name, info=info, frame_paths=frames, gt=gt)
            _check_images(seq, image_dir)
            seqs.append(seq)
        return seqs


BUILDERS: dict[str, type[_MotBuilder]] = {
    "dancetrack": MotDancetrack,
    "sportsmot": MotSportsmot,
    "synthetic": MotSynthetic,
    "bft": MotBft,
    "mot17": MotMot17,
    "crowdhuman": MotCrowdhuman,
    "bdd100k": MotBdd100k,
}


# ---------------------------------------------------------------------------------------------
# Reading back.


@dataclasses.dataclass(frozen=True)
class SequenceIndex:
    """Where one sequence's frames are in a split's records."""

    name: str
    start: int  # record index of first_frame
    first_frame: int
    num_objects: np.ndarray  # (num_frames,) int32 objects per stored frame
    frame_rate: float
    width: int
    height: int

    @property
    def num_frames(self) -> int:
        return len(self.num_objects)

    @property
    def annotated_frames(self) -> np.ndarray:
        """Frame numbers with at least one object, ascending."""
        return self.first_frame + np.flatnonzero(self.num_objects > 0)

    def record_index(self, frame: int) -> int:
        if not 0 <= frame - self.first_frame < self.num_frames:
            raise IndexError(f"frame {frame} is not stored for sequence {self.name}")
        return self.start + frame - self.first_frame


class SplitRecords:
    """Random access to the frame records of one split, plus its sequence index.

    Picklable (grain sends it to worker processes); records decode to numpy (no TensorFlow).
    """

    def __init__(self, dataset_name: str, split: str, data_dir: str, source, index: list[dict]):
        self.dataset_name = dataset_name
        self.split = split
        self.data_dir = data_dir
        self.source = source
        self.sequences = [
            SequenceIndex(
                name=s["name"],
                start=s["start"],
                first_frame=s["first_frame"],
                num_objects=np.asarray(s["num_objects"], np.int32),
                frame_rate=s["frame_rate"],
                width=s["width"],
                height=s["height"],
            )
            for s in index
        ]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, record_index: int) -> dict:
        rec = self.source[record_index]
        rec["sequence"] = (
            rec["sequence"].decode() if isinstance(rec["sequence"], bytes) else rec["sequence"]
        )
        return rec

    def frame(self, seq: int, frame: int) -> dict:
        return self[self.sequences[seq].record_index(frame)]


def default_prepared_dir(root: str) -> str:
    return os.path.join(root, "tfds_prepared")


def _builder(key: str, data_dir: str) -> _MotBuilder:
    return BUILDERS[key](data_dir=data_dir, file_format="array_record")


def _changed_source(builder: _MotBuilder, root: str) -> str | None:
    """How the prepared records' sources differ from the files now under root, or None."""
    stored = builder.info.metadata.get(SOURCES)
    if stored is None:
        return "they hold no fingerprint of their sources (built by an older version)"
    now = builder.source_fingerprint(root)
    for path in sorted(set(stored) | set(now)):
        if path not in now:
            return f"{os.path.join(root, path)} is gone since they were built"
        if path not in stored:
            return f"{os.path.join(root, path)} is new since they were built"
        if stored[path] != now[path]:
            return f"{os.path.join(root, path)} changed since they were built"
    return None


def prepare(dataset_name: str, root: str, *, prepared_dir: str | None = None) -> _MotBuilder:
    """Builds the dataset's records under prepared_dir (default root/tfds_prepared), or
    rebuilds them when their sources changed (one log line says which file); returns the
    builder."""
    key = dataset_layouts.canonical_name(dataset_name)
    data_dir = prepared_dir or default_prepared_dir(root)
    builder = _builder(key, data_dir)
    if builder.data_path.exists():  # tfds' own test for reuse (is_prepared() logs)
        changed = _changed_source(builder, root)
        if changed:
            logging.warning("%s: rebuilding the prepared records: %s", builder.data_dir, changed)
            shutil.rmtree(builder.data_dir)
            builder = _builder(key, data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.path.abspath(root))
    )
    return builder


def load_split(
    dataset_name: str, root: str, split: str, *, prepared_dir: str | None = None
) -> SplitRecords:
    """Prepares the dataset on first use (ArrayRecord under prepared_dir) and opens one split.

    Args:
      dataset_name: dancetrack, sportsmot, synthetic, bft, mot17, crowdhuman or bdd100k.
      root: the folder holding the dataset folder (e.g. root/DanceTrack/train/...).
      prepared_dir: where the ArrayRecord files go; default root/tfds_prepared.

    Raises:
      InputError: a malformed input, a split that was not built, or prepared records whose
        annotation files changed since they were built (re-run `python -m
        data_pipeline.prepare`, which rebuilds them).
    """
    key = dataset_layouts.canonical_name(dataset_name)
    data_dir = prepared_dir or default_prepared_dir(root)
    builder = _builder(key, data_dir)
    if builder.data_path.exists():  # tfds' own test for reuse (is_prepared() logs)
        changed = _changed_source(builder, root)
        if changed:
            again = f" --prepared-dir {prepared_dir}" if prepared_dir else ""
            raise InputError(
                f"{builder.data_dir}: these prepared records are out of date: {changed}; "
                f"rebuild them with `python -m data_pipeline.prepare --dataset {key} "
                f"--root {root}{again}`"
            )
    else:
        builder = prepare(key, root, prepared_dir=prepared_dir)
    if split not in builder.info.splits:
        raise InputError(
            f"{dataset_layouts.dataset_dir(key, root)}: split {split!r} was not built "
            f"(built: {sorted(builder.info.splits)}); only splits with ground truth are"
        )
    source = builder.as_data_source(split=split)
    return SplitRecords(key, split, data_dir, source, builder.info.metadata[split])
