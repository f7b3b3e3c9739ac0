"""Waiting for a condition, not for a fixed time."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_until(predicate: Any, timeout: float = 15) -> Any:
    """predicate()'s value once truthy (polled every 0.25 s), or its last
    value after ``timeout`` seconds: the caller asserts on it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.25)
