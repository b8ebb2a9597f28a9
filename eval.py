"""Track and score a split, or score result files (`python eval.py --help`); the code is
sambamotr_jax/eval_cli.py."""

from sambamotr_jax import eval_cli

if __name__ == "__main__":
    eval_cli.run()
