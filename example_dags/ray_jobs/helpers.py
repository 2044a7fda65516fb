"""A module next to train.py: the whole folder is the job's working directory."""


def loss(epoch: int) -> float:
    return 1.0 / (1 + epoch)
