"""CrowdHuman `.odgt` annotations: one json record per line, one record per image.

    {"ID": "273271,c9db000d5146c15", "gtboxes": [{"fbox": [x, y, w, h], "tag": "person",
     "extra": {"ignore": 0, ...}, ...}, ...]}

`read_crowdhuman_odgt` gives the full-body boxes ('fbox') as the official gen_crowdhuman_gts.py
does: boxes with `extra.ignore == 1` dropped, coordinates truncated to integers, ids from one
running counter over the whole file starting at 0. A malformed record raises `InputError`
naming file:line.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable

from sambamotr_jax.formats.errors import InputError, at

# (track id, x, y, w, h): integer pixels of the top-left corner and size.
OdgtBox = tuple[int, int, int, int, int]
# keep_box(where, w, h) -> False to leave a box out (after its id is given); `where` names
# file:line and the box.
KeepBox = Callable[[str, float, float], bool]


def read_crowdhuman_odgt(
    path: str | os.PathLike, keep_box: KeepBox | None = None
) -> list[tuple[str, list[OdgtBox]]]:
    """[(image ID, boxes)] of a `.odgt` file, in file order (module docstring).

    `keep_box`, when given, is asked about every box that gets an id; the boxes it refuses are
    left out and keep their ids (the counter is the official one either way).

    Raises:
      InputError: the file is missing or a record is malformed (names file:line).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    out = []
    track_id = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                image_id = str(record["ID"])
                fboxes = []
                for k, box in enumerate(record["gtboxes"]):
                    if box.get("extra", {}).get("ignore", 0) == 1:
                        continue
                    x, y, w, h = (int(v) for v in box["fbox"])
                    fboxes.append((k, (x, y, w, h)))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise InputError(
                    f"{at(path, number)}: malformed odgt record ({err!r}); expected "
                    '{"ID": ..., "gtboxes": [{"fbox": [x, y, w, h], ...}, ...]}'
                ) from None
            boxes = []
            for k, (x, y, w, h) in fboxes:
                where = f"{at(path, number)}: gtboxes[{k}] fbox {[x, y, w, h]}"
                if keep_box is None or keep_box(where, w, h):
                    boxes.append((track_id, x, y, w, h))
                track_id += 1
            out.append((image_id, boxes))
    return out
