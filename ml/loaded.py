"""Models loaded once per worker process and kept: a small keyed cache shared by the analysers and the segmenter.

Loading a model costs seconds (weights verified by sha256, the network built); a worker keeps
each one it has used under a key that changes when the model does (its weights' sha256, or the
manifest file's modification time), loading it under a lock so two threads never load one twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadedOnce(Generic[T]):
    """``get(key, load)``: the value kept under ``key``, else ``load()``'s (kept; with ``single``, alone)."""

    def __init__(self, *, single: bool = False) -> None:
        self._values: dict[Hashable, T] = {}
        self._lock = threading.Lock()
        self.single = single  # keep one value at a time: a replaced model is dropped

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        value = self._values.get(key)
        if value is not None:
            return value
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = load()
                if self.single:
                    self._values.clear()
                self._values[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


__all__ = ["LoadedOnce"]
