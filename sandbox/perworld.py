"""One shared object per ``World`` (the ARM front and the admin API reach the same one), made on first use."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from .state import World

T = TypeVar("T")


class PerWorld(Generic[T]):
    def __init__(self, factory: Callable[[World], T]) -> None:
        self._factory = factory
        self._made: weakref.WeakKeyDictionary[World, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, world: World) -> T:
        with self._lock:
            made = self._made.get(world)
            if made is None:
                made = self._made[world] = self._factory(world)
            return made
