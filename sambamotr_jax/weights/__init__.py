"""Weights: the official-name rule (`torch_names`), reading and filling official PyTorch
checkpoints (`torch_state`), converted checkpoints on disk (`converted_checkpoint`, `conversion`).

May import the model; nothing below it imports weights."""
