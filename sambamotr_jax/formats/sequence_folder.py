"""MOT sequence folders: `seqinfo.ini`, seqmaps, frame files, the sequences of a split.

A sequence folder (DanceTrack / SportsMOT / MOT17 layout) holds `seqinfo.ini`, `img1/` with the
frames and, for annotated splits, `gt/gt.txt`; BFT and BDD100K keep the frames directly in the
sequence folder and have no seqinfo.ini.

Frames are `.jpg` / `.jpeg` / `.png` files ordered by their number: the integer file stem
(`00000001.jpg`), or for BDD100K names `<video>-<frame:07d>.jpg` the integer after the last '-'.
With zero-padded names this is the official order (`sorted` by name); `9.png` comes before
`10.png`. Two files with the same number are an error; files whose stem holds no number (frames
of a demo folder) come after the numbered ones, in name order.

A seqmap (TrackEval / DanceTrack `<split>_seqmap.txt`) is the header line `name`, then one
sequence name per line; blank lines are skipped. Anything else is an error naming file:line.

Every problem raises `InputError` naming the file (and line) and what to do.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import pathlib
from collections.abc import Sequence

from sambamotr_jax.formats.atomic_write import write_text_atomic
from sambamotr_jax.formats.errors import InputError, at

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
SEQINFO = "seqinfo.ini"


# --------------------------------------------------------------------------------------------
# seqinfo.ini


@dataclasses.dataclass(frozen=True)
class SeqInfo:
    """The `[Sequence]` section of a `seqinfo.ini` (None: the file does not say).

    For sequences without a seqinfo.ini (BFT, BDD100K, CrowdHuman) the data pipeline fills one
    from the frames: length = number of frames, size = the first frame's.
    """

    name: str
    seq_length: int
    im_dir: str = "img1"
    frame_rate: float | None = None
    im_width: int | None = None
    im_height: int | None = None
    im_ext: str | None = None


_SEQINFO_EXAMPLE = (
    "'[Sequence]\\nname=dancetrack0004\\nimDir=img1\\nframeRate=20\\nseqLength=1200\\n"
    "imWidth=1920\\nimHeight=1080\\nimExt=.jpg'"
)


def read_seqinfo(seq_dir: str | os.PathLike) -> SeqInfo:
    """Reads `<seq_dir>/seqinfo.ini`.

    Raises:
      InputError: the file is missing or unreadable as an ini file, has no `[Sequence]` section
        or no positive integer `seqLength`, or a value of the wrong type (names file:line).
    """
    seq_dir = pathlib.Path(seq_dir)
    ini = seq_dir / SEQINFO
    if not ini.is_file():
        raise InputError(
            f"{ini}: file not found; every sequence folder needs a seqinfo.ini with a [Sequence] "
            "section giving seqLength (as in DanceTrack / MOT17)"
        )
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as err:
        line, problem = getattr(err, "lineno", None), getattr(err, "message", str(err))
        if isinstance(err, configparser.ParsingError) and err.errors:
            line, text = err.errors[0]
            problem = f"cannot parse {text}"
        problem = problem.splitlines()[0]
        raise InputError(
            f"{at(ini, line)}: not an ini file ({problem}); fix it, e.g. {_SEQINFO_EXAMPLE}"
        ) from None
    if "Sequence" not in parser or "seqLength" not in parser["Sequence"]:
        raise InputError(
            f"{ini}: no [Sequence] seqLength integer; fix the file (e.g. {_SEQINFO_EXAMPLE})"
        )
    section = parser["Sequence"]

    def value(key, kind):
        if key not in section:
            return None
        try:
            return kind(section[key])
        except ValueError:
            raise InputError(
                f"{at(ini, _key_line(ini, key))}: {key}={section[key]!r} is not "
                f"{'an integer' if kind is int else 'a number'}; fix the file "
                f"(e.g. {_SEQINFO_EXAMPLE})"
            ) from None

    seq_length = value("seqLength", int)
    if seq_length < 1:
        raise InputError(
            f"{at(ini, _key_line(ini, 'seqLength'))}: seqLength={seq_length}; the sequence is "
            "empty, remove it from the split"
        )
    return SeqInfo(
        name=section.get("name", seq_dir.name),
        seq_length=seq_length,
        im_dir=section.get("imDir", "img1"),
        frame_rate=value("frameRate", float),
        im_width=value("imWidth", int),
        im_height=value("imHeight", int),
        im_ext=section.get("imExt"),
    )


def _key_line(ini: pathlib.Path, key: str) -> int | None:
    """The 1-based line of `key=` in `ini` (configparser keys are case-insensitive)."""
    for number, line in enumerate(ini.read_text(encoding="utf-8").splitlines(), start=1):
        name = line.split("=", 1)[0].split(":", 1)[0].strip()
        if name.lower() == key.lower():
            return number
    return None


def write_seqinfo(seq_dir: str | os.PathLike, info: SeqInfo) -> None:
    """Writes `<seq_dir>/seqinfo.ini` (every field of `info` must be set), atomically."""
    write_text_atomic(
        pathlib.Path(seq_dir) / SEQINFO,
        [
            "[Sequence]\n"
            f"name={info.name}\nimDir={info.im_dir}\nframeRate={info.frame_rate:g}\n"
            f"seqLength={info.seq_length}\nimWidth={info.im_width}\n"
            f"imHeight={info.im_height}\nimExt={info.im_ext}\n"
        ],
    )


# --------------------------------------------------------------------------------------------
# Seqmaps.


def read_seqmap(path: str | os.PathLike) -> list[str]:
    """Sequence names of a seqmap file: the header line `name`, then one name per line.

    Raises:
      InputError: the file is missing, has no `name` header, a line that is not one name (a
        comma or a blank inside, as in 'a,b'), or lists no sequence.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: seqmap file not found; give an existing seqmap (a 'name' header line, then "
            "one sequence name per line) or leave it out to use every sequence folder"
        )
    names = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        name = line.strip()
        if number == 1:
            if name != "name":
                raise InputError(
                    f"{at(path, 1)}: the first line is {line!r}, not the header 'name'; a seqmap "
                    "is a 'name' line, then one sequence name per line"
                )
            continue
        if not name:
            continue
        if "," in name or any(c.isspace() for c in name):
            raise InputError(
                f"{at(path, number)}: {line!r} is not one sequence name; a seqmap is a 'name' "
                "line, then one sequence name per line (no commas or blanks)"
            )
        names.append(name)
    if not names:
        raise InputError(f"{path}: the seqmap lists no sequence after its header line")
    return names


def sequence_dirs(
    root: str | os.PathLike, names: Sequence[str] | None = None
) -> list[pathlib.Path]:
    """Sequence folders under `root`: those named (checked to exist), else every subfolder, sorted.

    Raises:
      InputError: `root` or a named sequence is missing, or `root` has no subfolder.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found")
    if names is None:
        dirs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
        if not dirs:
            raise InputError(f"{root}: no sequence folders")
        return dirs
    missing = [n for n in names if not (root / n).is_dir()]
    if missing:
        raise InputError(f"{root}: sequence folders named by the seqmap are missing: {missing}")
    return [root / n for n in names]


# --------------------------------------------------------------------------------------------
# Frames.


def frame_number(name: str | os.PathLike) -> int | None:
    """The frame number of a frame file name: the integer stem (`00000012.jpg` -> 12), or the
    integer after the last '-' (BDD100K `<video>-0000012.jpg` -> 12); None when there is none."""
    stem = pathlib.PurePath(name).stem
    digits = stem.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else None


def list_frames(image_dir: str | os.PathLike) -> list[pathlib.Path]:
    """The `.jpg` / `.jpeg` / `.png` files of a folder in frame order (module docstring).

    Raises:
      InputError: the folder is missing or holds no frames, or two frames have one number.
    """
    image_dir = pathlib.Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: frame folder not found")
    files = [p for p in image_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()]
    if not files:
        raise InputError(
            f"{image_dir}: empty sequence, no .jpg or .png frames; add the frames or remove "
            "the sequence from the split / seqmap"
        )
    numbered = {}
    for path in sorted(files, key=lambda p: p.name):
        number = frame_number(path.name)
        if number is None:
            continue
        if number in numbered:
            raise InputError(
                f"{image_dir}: {numbered[number].name} and {path.name} are both frame {number}; "
                "keep one file per frame number"
            )
        numbered[number] = path
    unnumbered = sorted((p for p in files if frame_number(p.name) is None), key=lambda p: p.name)
    return [numbered[n] for n in sorted(numbered)] + unnumbered


def numbered_frames(image_dir: str | os.PathLike) -> dict[int, pathlib.Path]:
    """Frame number -> file of a folder's frames (`list_frames`), in frame order.

    Raises:
      InputError: as `list_frames`, or a frame file whose name holds no number.
    """
    frames = {}
    for path in list_frames(image_dir):
        number = frame_number(path.name)
        if number is None:
            raise InputError(
                f"{path}: frame name is not a number; name frames <number>.jpg (00000001.jpg) "
                "or <video>-<number>.jpg"
            )
        frames[number] = path
    return frames


def sequence_frames(seq_dir: str | os.PathLike) -> list[pathlib.Path]:
    """Frames of a sequence folder: `<seq_dir>/<imDir or img1>/`, or `<seq_dir>` itself when it
    has no such subfolder (BFT / BDD100K layout)."""
    seq_dir = pathlib.Path(seq_dir)
    im_dir = "img1"
    if (seq_dir / SEQINFO).is_file():
        im_dir = read_seqinfo(seq_dir).im_dir
    image_dir = seq_dir / im_dir
    return list_frames(image_dir if image_dir.is_dir() else seq_dir)
