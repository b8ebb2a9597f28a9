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

from sambamotr_jax.formats.errors import InputError, at

# (track id, x, y, w, h): integer pixels of the top-left corner and size.
OdgtBox = tuple[int, int, int, int, int]


def read_crowdhuman_odgt(path: str | os.PathLike) -> list[tuple[str, list[OdgtBox]]]:
    """[(image ID, boxes)] of a `.odgt` file, in file order (module docstring).

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
                boxes = []
                for box in record["gtboxes"]:
                    if box.get("extra", {}).get("ignore", 0) == 1:
                        continue
                    x, y, w, h = (int(v) for v in box["fbox"])
                    boxes.append((track_id, x, y, w, h))
                    track_id += 1
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise InputError(
                    f"{at(path, number)}: malformed odgt record ({err!r}); expected "
                    '{"ID": ..., "gtboxes": [{"fbox": [x, y, w, h], ...}, ...]}'
                ) from None
            out.append((image_id, boxes))
    return out
