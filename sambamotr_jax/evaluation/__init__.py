"""Evaluation: running a split through a tracking function (its sequences spread over the
processes of a multi-process run and over the devices of a process) and scoring result files
(TrackEval HOTA/CLEAR/Identity, BDD100K TETA).

Takes the tracker as a function; imports only `formats` and `runtime`, never the model,
tracking or weights, so scoring works on any tracker's files.
"""
