"""Training: Hungarian matcher, criterion, optimizer and schedules, the jitted clip step,
the training loop with its checkpoints and logs, the workdir lock and the config checks.

The top library layer: may import every layer below it and `data_pipeline`; never `configs`.
"""
