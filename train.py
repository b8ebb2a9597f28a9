"""Train SambaMOTR / MeMOTR (`python train.py --help`); the code is sambamotr_jax/train_cli.py."""

from sambamotr_jax import train_cli

if __name__ == "__main__":
    train_cli.run()
