"""eval_lib and eval.py with a fake tracker: result files, resume, interval, scoring, CLI errors."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from sambamotr_jax.evaluation import split_eval
from sambamotr_jax.formats import mot_text
from sambamotr_jax.formats.errors import InputError

REPO = pathlib.Path(__file__).resolve().parents[2]


def make_split(root, lengths, *, with_gt=True, ext=".jpg"):
    """Sequence folders with empty frame files, seqinfo.ini and (optionally) gt: two people per
    frame, walking right."""
    for name, length in lengths.items():
        seq = root / name
        (seq / "img1").mkdir(parents=True)
        for f in range(1, length + 1):
            (seq / "img1" / f"{f:08d}{ext}").write_bytes(b"")
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={length}\n")
        if with_gt:
            (seq / "gt").mkdir()
            rows = [
                f"{f},{obj},{x0 + 3 * f},40,50,100,1,1,1.0\n"
                for f in range(1, length + 1)
                for obj, x0 in ((1, 10), (2, 300))
            ]
            (seq / "gt" / "gt.txt").write_text("".join(rows))
    return root


class FakeTracker:
    """A perfect tracker (reads the frames' gt) with the `TrackFn` interface; counts builds."""

    def __init__(self, id_offset=0):
        self.builds, self.calls, self.id_offset = 0, [], id_offset

    def factory(self):
        self.builds += 1
        return self.track

    def track(self, frames, *, interval):
        seq_dir = frames[0].parent.parent
        self.calls.append((seq_dir.name, interval))
        gt = mot_text.read_mot_file(seq_dir / "gt" / "gt.txt")
        for i in range(len(frames) // interval):
            frame = i * interval + 1
            rows = gt.values[gt.frames == frame]
            yield (
                frame,
                [(int(r[1]) + self.id_offset, *np.float32(r[2:6]).tolist(), 0.9) for r in rows],
            )


def test_run_split_writes_results_scores_and_resumes(tmp_path):
    split = make_split(tmp_path / "data" / "val", {"seq1": 4, "seq2": 3})
    tracker = FakeTracker()
    scores = split_eval.run_split(tracker.factory, split, tmp_path / "out", progress=False)
    out = tmp_path / "out" / "val" / "tracker"
    assert sorted(os.listdir(out)) == ["seq1.txt", "seq2.txt", "summary.json", "summary.txt"]
    assert (out / "seq2.txt").read_text().splitlines()[:2] == [
        "1,1,13.0,40.0,50.0,100.0,1,-1,-1,-1",
        "1,2,303.0,40.0,50.0,100.0,1,-1,-1,-1",
    ]
    assert len((out / "seq1.txt").read_text().splitlines()) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["seq1", "seq2", "COMBINED"]
    assert summary["COMBINED"] == {
        "HOTA": 100.0, "DetA": 100.0, "AssA": 100.0, "LocA": 100.0,
        "IDF1": 100.0, "MOTA": 100.0, "IDSW": 0,
    }  # fmt: skip
    assert scores.summary == summary
    assert "COMBINED" in (out / "summary.txt").read_text()
    assert tracker.builds == 1 and tracker.calls == [("seq1", 1), ("seq2", 1)]

    # A rerun keeps finished sequences and does not even build the tracker.
    (out / "seq2.txt").unlink()
    rerun = FakeTracker(id_offset=10)
    split_eval.run_split(rerun.factory, split, tmp_path / "out", progress=False)
    assert rerun.calls == [("seq2", 1)]
    assert (out / "seq2.txt").read_text().startswith("1,11,")
    assert (out / "seq1.txt").read_text().startswith("1,1,")
    idle = FakeTracker()
    split_eval.run_split(idle.factory, split, tmp_path / "out", progress=False)
    assert idle.builds == 0
    # --overwrite tracks everything again.
    split_eval.run_split(rerun.factory, split, tmp_path / "out", overwrite=True, progress=False)
    assert rerun.calls == [("seq2", 1), ("seq1", 1), ("seq2", 1)]
    assert (out / "seq1.txt").read_text().startswith("1,11,")


class FakeStreamsTracker(FakeTracker):
    """The perfect tracker as a `StreamsTrackFn`: `streams` sequences at a time, their frames
    interleaved (a finished sequence's slot takes the next one)."""

    def factory(self):
        self.builds += 1
        return self.track_streams

    def track_streams(self, sequences, *, interval, streams):
        pending = list(enumerate(sequences))
        slots = []
        while pending or slots:
            while pending and len(slots) < streams:
                k, frames = pending.pop(0)
                slots.append((k, self.track(frames, interval=interval)))
            for slot in list(slots):
                k, frames = slot
                item = next(frames, None)
                if item is None:
                    slots.remove(slot)
                else:
                    yield k, *item


def test_run_split_in_streams_writes_the_files_of_one_stream(tmp_path):
    split = make_split(tmp_path / "data" / "val", {"seq1": 7, "seq2": 2, "seq3": 4, "seq4": 3})
    (split / "seq1" / "seqinfo.ini").write_text(
        "[Sequence]\nname=seq1\nseqLength=7\nimWidth=1920\nimHeight=1080\n"
    )
    one = split_eval.run_split(FakeTracker().factory, split, tmp_path / "one", interval=2)
    tracker = FakeStreamsTracker()
    scores = split_eval.run_split(
        tracker.factory, split, tmp_path / "two", interval=2, streams=2, progress=False
    )
    a, b = tmp_path / "one" / "val" / "tracker", tmp_path / "two" / "val" / "tracker"
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and "seq4.txt" in names and "summary.json" in names
    for name in names:
        assert (b / name).read_text() == (a / name).read_text(), name
    assert scores.summary == one.summary and tracker.builds == 1
    # Grouped by seqinfo frame size (a batch runs one size): seq1's size is the only one known.
    assert tracker.calls == [("seq2", 2), ("seq3", 2), ("seq4", 2), ("seq1", 2)]


class StreamsStopAtFrame(FakeStreamsTracker):
    """The streams tracker, but frame `stop` of sequence `seq` cannot be read."""

    def __init__(self, seq, stop):
        super().__init__()
        self.seq, self.stop = seq, stop

    def track(self, frames, *, interval):
        for frame, rows in super().track(frames, interval=interval):
            if frames[0].parent.parent.name == self.seq and frame == self.stop:
                raise InputError(f"{frames[frame - 1]}: truncated or corrupt JPEG (...)")
            yield frame, rows


def test_unreadable_frame_in_streams_leaves_partial_files_of_the_sequences_in_flight(tmp_path):
    split = make_split(tmp_path / "val", {"seq1": 2, "seq2": 6, "seq3": 5, "seq4": 3})
    with pytest.raises(InputError) as err:
        split_eval.run_split(
            StreamsStopAtFrame("seq2", stop=5).factory,
            split,
            tmp_path / "out",
            streams=2,
            progress=False,
        )
    out = tmp_path / "out" / "val" / "tracker"
    # seq1 ended (2 frames) before the error: written whole; seq2 and seq3 were in flight.
    assert str(err.value) == (
        f"{split / 'seq2' / 'img1' / '00000005.jpg'}: truncated or corrupt JPEG (...); tracking "
        f"stopped: the lines of the frames tracked so far of the 2 sequences in flight are in "
        f"{out / 'seq2.txt.partial'}, {out / 'seq3.txt.partial'} (no result file written for "
        "them)"
    )
    assert sorted(os.listdir(out)) == ["seq1.txt", "seq2.txt.partial", "seq3.txt.partial"]
    assert len((out / "seq1.txt").read_text().splitlines()) == 4
    frames = lambda path: sorted(set(mot_text.read_mot_file(path).frames.tolist()))
    assert frames(out / "seq2.txt.partial") == [1, 2, 3, 4]
    assert frames(out / "seq3.txt.partial") == [1]  # seq4 had not started: no file

    # The first frame of the first sequence: nothing in flight, no file.
    with pytest.raises(InputError) as err:
        split_eval.run_split(
            StreamsStopAtFrame("seq1", stop=1).factory,
            split,
            tmp_path / "first",
            streams=2,
            progress=False,
        )
    assert str(err.value) == (
        f"{split / 'seq1' / 'img1' / '00000001.jpg'}: truncated or corrupt JPEG (...); tracking "
        "stopped before any frame was tracked"
    )
    assert os.listdir(tmp_path / "first" / "val" / "tracker") == []


def test_run_split_with_interval_and_seqmap(tmp_path):
    split = make_split(tmp_path / "val", {"seq1": 7, "seq2": 4, "other": 2}, ext=".png")
    seqmap = tmp_path / "val_seqmap.txt"
    seqmap.write_text("name\nseq1\nseq2\n")
    tracker = FakeTracker()
    scores = split_eval.run_split(
        tracker.factory, split, tmp_path / "out", seqmap=seqmap, interval=2, progress=False
    )
    out = tmp_path / "out" / "val" / "tracker"
    # Frames 1, 3, 5 of 7 (int(7 / 2) = 3), as the official Submitter and SparseTrackEval.
    frames = [int(line.split(",")[0]) for line in (out / "seq1.txt").read_text().splitlines()]
    assert frames == [1, 1, 3, 3, 5, 5]
    assert tracker.calls == [("seq1", 2), ("seq2", 2)]
    assert list(scores.summary) == ["seq1", "seq2", "COMBINED"]
    assert scores.summary["COMBINED"]["HOTA"] == 100.0


def test_split_without_gt_writes_results_only(tmp_path):
    split = make_split(tmp_path / "test", {"seq1": 2}, with_gt=False)
    tracker = FakeTracker()
    tracker.track = lambda frames, *, interval: iter(
        [(1, [(5, 1.0, 2.0, 30.0, 40.0, 0.8)]), (2, [])]
    )
    assert split_eval.run_split(tracker.factory, split, tmp_path / "out", progress=False) is None
    out = tmp_path / "out" / "test" / "tracker"
    assert (out / "seq1.txt").read_text() == "1,5,1.0,2.0,30.0,40.0,1,-1,-1,-1\n"
    assert not (out / "summary.json").exists()


def test_bad_tracker_frames_write_nothing(tmp_path):
    split = make_split(tmp_path / "val", {"seq1": 3})
    tracker = FakeTracker()
    tracker.track = lambda frames, *, interval: iter([(2, []), (2, [])])
    with pytest.raises(ValueError, match="yielded frame 2 after frame 2"):
        split_eval.run_split(tracker.factory, split, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "val" / "tracker" / "seq1.txt").exists()


def test_empty_sequence_and_missing_seqmap(tmp_path):
    split = make_split(tmp_path / "val", {"seq1": 2})
    (split / "seq0" / "img1").mkdir(parents=True)
    with pytest.raises(InputError, match=r"seq0/img1: empty sequence"):
        split_eval.run_split(FakeTracker().factory, split, tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="missing_seqmap.txt: seqmap file not found"):
        split_eval.run_split(
            FakeTracker().factory, split, tmp_path / "out", seqmap=tmp_path / "missing_seqmap.txt"
        )


def _config(root):
    config = ml_collections.ConfigDict()
    config.data = ml_collections.ConfigDict({"root": str(root), "dataset": "DanceTrack"})
    config.eval = ml_collections.ConfigDict({"interval": 1, "seqmap": ""})
    return config


def test_evaluate_checkpoint_resolves_official_layout(tmp_path):
    make_split(tmp_path / "data" / "DanceTrack" / "val", {"seq1": 3, "seq2": 2})
    (tmp_path / "data" / "DanceTrack" / "val_seqmap.txt").write_text("name\nseq2\n")
    (tmp_path / "ckpt").mkdir()
    config = _config(tmp_path / "data")
    config.eval.interval = 2
    tracker, built_with = FakeTracker(), []

    def build_track_fn(cfg, checkpoint_dir):
        built_with.append((cfg, checkpoint_dir))
        return tracker.factory()

    scores = split_eval.evaluate_checkpoint(
        config, tmp_path / "ckpt", split="val", workdir=tmp_path / "out",
        build_track_fn=build_track_fn, progress=False,
    )  # fmt: skip
    assert built_with == [(config, tmp_path / "ckpt")]
    assert tracker.calls == [("seq2", 2)]
    assert list(scores.summary) == ["seq2", "COMBINED"]

    with pytest.raises(InputError, match="nockpt: checkpoint not found; pass --checkpoint=DIR"):
        split_eval.evaluate_checkpoint(
            config, tmp_path / "nockpt", split="val", workdir=tmp_path / "out",
            build_track_fn=build_track_fn,
        )  # fmt: skip
    with pytest.raises(InputError, match="split folder not found: looked for .*/DanceTrack/test"):
        split_eval.evaluate_checkpoint(
            config, tmp_path / "ckpt", split="test", workdir=tmp_path / "out",
            build_track_fn=build_track_fn,
        )  # fmt: skip


def _run_eval(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "eval.py"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_score_mode(tmp_path):
    gt_root = make_split(tmp_path / "gt", {"seq1": 3, "seq2": 3})
    results = tmp_path / "results"
    results.mkdir()
    for seq in ("seq1", "seq2"):
        gt = mot_text.read_mot_file(gt_root / seq / "gt" / "gt.txt")
        swap = seq == "seq2"  # seq2: the two tracks swap ids at frame 3 (two id switches).
        lines = [
            mot_text.format_mot_line(f, (3 - i) if swap and f == 3 else i, *r[2:6])
            for f, i, r in zip(gt.frames, gt.ids, gt.values, strict=True)
        ]
        (results / f"{seq}.txt").write_text("".join(lines))
    proc = _run_eval("--score", f"--gt_root={gt_root}", f"--tracker_dir={results}")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((results / "summary.json").read_text())
    assert summary["seq1"]["HOTA"] == 100.0 and summary["seq2"]["IDSW"] == 2
    assert summary["COMBINED"]["IDSW"] == 2 and summary["COMBINED"]["DetA"] == 100.0
    assert proc.stdout.splitlines()[-1].split()[0] == "COMBINED"

    (results / "seq2.txt").write_text("1,1,10,40,50,100,1,-1,-1,-1\n1,2,10,40,50\n")
    proc = _run_eval("--score", f"--gt_root={gt_root}", f"--tracker_dir={results}")
    assert proc.returncode == 2
    assert f"{results / 'seq2.txt'}:2: 5 columns, at least 6 needed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_track_mode_errors(tmp_path):
    make_split(tmp_path / "data" / "DanceTrack" / "val", {"seq1": 2})
    (tmp_path / "data" / "DanceTrack" / "val" / "seq0" / "img1").mkdir(parents=True)
    config_file = tmp_path / "config.py"
    config_file.write_text(
        "import ml_collections\n\n\ndef get_config():\n"
        "    config = ml_collections.ConfigDict()\n"
        "    config.data = ml_collections.ConfigDict({'root': '/nonexistent', 'dataset': 'DanceTrack'})\n"
        "    config.eval = ml_collections.ConfigDict({'interval': 1, 'seqmap': ''})\n"
        "    return config\n"
    )
    (tmp_path / "ckpt").mkdir()
    common = [f"--config={config_file}", f"--workdir={tmp_path / 'out'}"]
    proc = _run_eval(*common, f"--checkpoint={tmp_path / 'missing'}")
    assert proc.returncode == 2 and "missing: checkpoint not found" in proc.stderr
    # --config.data.root overrides the config; the empty sequence is reported by name.
    proc = _run_eval(
        *common, f"--checkpoint={tmp_path / 'ckpt'}", f"--config.data.root={tmp_path / 'data'}"
    )
    assert proc.returncode == 2 and "seq0/img1: empty sequence" in proc.stderr, proc.stderr
    proc = _run_eval(*common, f"--checkpoint={tmp_path / 'ckpt'}", "--devices=1000")
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith(
        "eval.py: error: --devices=1000, but this process has "
    ), proc.stderr


def test_cli_score_mode_id_twice_in_a_frame_is_one_line(tmp_path):
    gt_root = make_split(tmp_path / "gt", {"seq1": 2})
    results = tmp_path / "results"
    results.mkdir()
    (results / "seq1.txt").write_text(
        "1,1,10,40,50,100,1,-1,-1,-1\n2,1,13,40,50,100,1,-1,-1,-1\n2,1,300,40,50,100,1,-1,-1,-1\n"
    )
    proc = _run_eval("--score", f"--gt_root={gt_root}", f"--tracker_dir={results}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"eval.py: error: {results / 'seq1.txt'}:3: id 1 appears twice in frame 2 (also line 2); "
        "a result file has at most one box per id and frame"
    ]


class StopsAtFrame(FakeTracker):
    """The perfect tracker, but frame `stop` cannot be read."""

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def track(self, frames, *, interval):
        for frame, rows in super().track(frames, interval=interval):
            if frame == self.stop:
                raise InputError(f"{frames[frame - 1]}: truncated or corrupt JPEG (...)")
            yield frame, rows


def test_unreadable_frame_keeps_the_results_before_it_in_a_partial_file(tmp_path):
    split = make_split(tmp_path / "val", {"seq1": 6})
    out = tmp_path / "out" / "val" / "tracker"
    out.mkdir(parents=True)
    (out / "seq1.txt").write_text("an old result\n")
    tracker = StopsAtFrame(stop=5)
    with pytest.raises(InputError) as err:
        split_eval.run_split(
            tracker.factory, split, tmp_path / "out", interval=2, overwrite=True, progress=False
        )
    assert str(err.value) == (
        f"{split / 'seq1' / 'img1' / '00000005.jpg'}: truncated or corrupt JPEG (...); tracking "
        f"stopped at frame 5 of seq1: the 4 lines of the 2 frames tracked before it are in "
        f"{out / 'seq1.txt.partial'} (seq1.txt not written)"
    )
    assert not (out / "seq1.txt").exists()  # nothing that looks complete
    partial = mot_text.read_mot_file(out / "seq1.txt.partial")
    assert sorted(set(partial.frames.tolist())) == [1, 3]
    # A later complete run replaces the partial file.
    split_eval.run_split(FakeTracker().factory, split, tmp_path / "out", progress=False)
    assert (out / "seq1.txt").exists() and not (out / "seq1.txt.partial").exists()
