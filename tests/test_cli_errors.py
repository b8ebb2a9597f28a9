"""Every entry point fails the same way on a malformed input: one stderr line
`PROG: error: FILE:LINE: ...`, no traceback, exit status 2 (--debug adds the traceback).

The inputs are a small synthetic dataset with one damaged file: a seqmap line that is not one
name, a seqinfo.ini value that is not a number, a gt line with a value that is not a number.
Each command must fail while reading its inputs, before building or compiling a model (a few
seconds each).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# (what is damaged, the file:line the error names, relative to the SyntheticMOT folder).
DAMAGES = {
    "seqmap": ("{split}_seqmap.txt:2", "is not one sequence name"),
    "seqinfo": ("{split}/{seq}/seqinfo.ini:5", "seqLength='six' is not an integer"),
    "gt": ("{split}/{seq}/gt/gt.txt:{gt_line}", "a value that is not a number"),
}
SEQ = {"train": "synth0001", "val": "synth0002"}


def _run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("clean")
    proc = _run(
        [
            "-m",
            "data_pipeline.synthetic_mot",
            f"--out={root}",
            "--width=96",
            "--height=64",
            "--num-frames=6",
            "--train-seqs=1",
            "--val-seqs=1",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    return root


def _damaged(clean_root: pathlib.Path, tmp_path: pathlib.Path, kind: str, split: str):
    """A copy of the dataset with one file of `split` damaged; returns (root, 'file:line')."""
    root = tmp_path / "data"
    shutil.copytree(clean_root, root)
    base, seq = root / "SyntheticMOT", SEQ[split]
    if kind == "seqmap":
        (base / f"{split}_seqmap.txt").write_text(f"name\n{seq},extra\n")
    elif kind == "seqinfo":
        ini = base / split / seq / "seqinfo.ini"
        text = ini.read_text()
        assert text.splitlines()[4] == "seqLength=6"
        ini.write_text(text.replace("seqLength=6", "seqLength=six"))
    gt = base / split / seq / "gt" / "gt.txt"
    gt_line = len(gt.read_text().splitlines()) + 1
    if kind == "gt":
        with open(gt, "a") as f:
            f.write("3,2,1,1,x,4,1,1,1\n")
    where, problem = DAMAGES[kind]
    return root, str(base / where.format(split=split, seq=seq, gt_line=gt_line)), problem


def _assert_one_line(proc: subprocess.CompletedProcess, prog: str, where: str, problem: str):
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith(f"{prog}: error: {where}: ") and problem in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["seqmap", "seqinfo", "gt"])
def test_train_py(clean_root, tmp_path, kind):
    root, where, problem = _damaged(clean_root, tmp_path, kind, "train")
    proc = _run(
        [
            "train.py",
            "--config=configs/tiny.py",
            f"--workdir={tmp_path / 'run'}",
            f"--config.data.root={root}",
            "--config.data.dataset=SyntheticMOT",
        ],
        timeout=120,
    )
    _assert_one_line(proc, "train.py", where, problem)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("kind", ["seqmap", "seqinfo", "gt"])
def test_eval_py_score(clean_root, tmp_path, kind):
    root, where, problem = _damaged(clean_root, tmp_path, kind, "val")
    base = root / "SyntheticMOT"
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(clean_root / "SyntheticMOT" / "val" / SEQ["val"] / "gt" / "gt.txt",
                results / f"{SEQ['val']}.txt")  # fmt: skip
    args = ["eval.py", "--score", f"--gt_root={base / 'val'}", f"--tracker_dir={results}"]
    proc = _run([*args, f"--seqmap={base / 'val_seqmap.txt'}"], timeout=120)
    _assert_one_line(proc, "eval.py", where, problem)
    if kind == "gt":
        proc = _run([*args, "--debug"], timeout=120)
        assert proc.returncode == 2 and "Traceback" in proc.stderr
        assert proc.stderr.splitlines()[-1].startswith(f"eval.py: error: {where}: ")


@pytest.mark.parametrize("kind", ["seqmap", "seqinfo", "gt"])
def test_eval_py_tracking(clean_root, tmp_path, kind):
    root, where, problem = _damaged(clean_root, tmp_path, kind, "val")
    (tmp_path / "ckpt").mkdir()  # never loaded: the inputs are read first
    proc = _run(
        [
            "eval.py",
            "--config=configs/tiny.py",
            f"--config.data.root={root}",
            "--config.data.dataset=SyntheticMOT",
            f"--checkpoint={tmp_path / 'ckpt'}",
            "--split=val",
            f"--workdir={tmp_path / 'out'}",
        ],
        timeout=120,
    )
    _assert_one_line(proc, "eval.py", where, problem)


def test_track(clean_root, tmp_path):
    root, where, problem = _damaged(clean_root, tmp_path, "seqinfo", "val")
    (tmp_path / "ckpt").mkdir()  # never loaded: the frames are listed first
    args = [
        "-m",
        "sambamotr_jax.track",
        "--config=configs/tiny.py",
        f"--checkpoint={tmp_path / 'ckpt'}",
        f"--input={root / 'SyntheticMOT' / 'val' / SEQ['val']}",
        f"--output={tmp_path / 'out.txt'}",
    ]
    proc = _run(args, timeout=120)
    _assert_one_line(proc, "python -m sambamotr_jax.track", where, problem)
    proc = _run([*args, "--debug"], timeout=120)
    assert proc.returncode == 2 and "Traceback" in proc.stderr
    assert not (tmp_path / "out.txt").exists()


def _one_line_error(proc: subprocess.CompletedProcess, prog: str, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("content", [b"not a checkpoint\n", b"PK\x03\x04truncated"])
def test_convert_on_a_file_that_is_not_a_checkpoint(tmp_path, content):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(content)
    proc = _run(
        [
            "-m",
            "sambamotr_jax.convert",
            f"--checkpoint={bad}",
            "--config=configs/tiny.py",
            f"--output={tmp_path / 'out'}",
        ]
    )
    _one_line_error(proc, "python -m sambamotr_jax.convert", str(bad), "weights_only=True")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "module, args",
    [
        ("sambamotr_jax.convert", ["--checkpoint=x.pth", "--output=out"]),
        ("sambamotr_jax.track", ["--checkpoint=ckpt", "--input=seq", "--output=o.txt"]),
        ("sambamotr_jax.demo", ["--checkpoint=ckpt", "--input=v.mp4", "--output=o.mp4"]),
    ],
)
def test_config_flag_errors(tmp_path, module, args):
    """A --config file that does not exist, and an override of a field the config lacks."""
    prog = f"python -m {module}"
    missing = _run(["-m", module, *args, f"--config={tmp_path / 'nope.py'}"])
    _one_line_error(missing, prog, "--config", "nope.py")
    unknown = _run(["-m", module, *args, "--config=configs/tiny.py", "--config.tracker.nope=1"])
    _one_line_error(unknown, prog, "'nope'", "bad --config override")


def test_eval_py_unknown_config_field():
    proc = _run(["eval.py", "--config=configs/tiny.py", "--config.eval.nope=1", "--split=val"])
    _one_line_error(proc, "eval.py", "'nope'")


def test_an_output_path_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = _run(["-m", "data_pipeline.synthetic_mot", f"--out={blocker / 'data'}"])
    _one_line_error(proc, "python -m data_pipeline.synthetic_mot", str(blocker / "data"))
