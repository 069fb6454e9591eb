"""pyHanko's synchronous entry points start an asyncio loop of their own, which cannot nest: called
from a thread that already runs a loop (an ASGI server, a test driving a browser) they fail — and a
failed validation reads as "not intact". These helpers move the work to a thread of its own then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_a_running_loop(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` here, or on a thread of its own when this thread already runs a loop."""
    if not _loop_running():
        return function(*args)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def coroutine_run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, on a thread of its own when this thread already runs a loop."""
    return off_a_running_loop(asyncio.run, coroutine)
