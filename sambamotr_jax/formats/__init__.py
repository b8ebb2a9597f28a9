"""File formats: one reader (and writer) per format, and the one error type.

MOT text lines, seqinfo.ini / seqmap / frame folders, BDD100K json, CrowdHuman odgt, frame
images, video files (PyAV), atomic writes; every problem with an input raises `InputError` naming the file (and line)
and what to do. The bottom layer: imports nothing of the project; data, tracking, evaluation and
training all read files through it.
"""
