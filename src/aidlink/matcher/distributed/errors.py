"""Errors of the distributed similarity join."""

from __future__ import annotations


class DatasetNotLoaded(LookupError):
    """A join named a dataset that was never loaded into the backend (or was evicted)."""

    def __init__(self, dataset: str, backend: str) -> None:
        super().__init__(
            f"dataset {dataset!r} is not loaded in the {backend} join backend; call load({dataset!r}, encodings) first"
        )
        self.dataset = dataset


class JoinFailed(RuntimeError):
    """A partition of a distributed join gave no answer; no partial result is returned."""

    def __init__(self, dataset: str, partition: int, partitions: int, reason: str) -> None:
        super().__init__(
            f"similarity join against dataset {dataset!r} failed: partition "
            f"{partition} of {partitions} gave no answer ({reason}); no partial "
            f"result was returned"
        )
        self.dataset = dataset
        self.partition = partition
        self.partitions = partitions
        self.reason = reason


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception a worker or the scheduler raised, for a JoinFailed reason."""
    text = str(exc) or "no message"
    return f"{type(exc).__name__}: {text}"
