"""Training: Hungarian matcher, criterion, optimizer and schedules, the jitted clip step,
the training loop with its checkpoints and logs.

The top library layer: may import every layer below it and `data_pipeline`; never `configs`.
"""
