"""Giving memory back after a dict or set of rule state emptied.

CPython never shrinks a dict's or a set's table when keys are deleted: a million deadlines that
fired and were swept leave a table sized for a million behind, per dict. The engine's state dicts
and seen-id sets are referenced by generated code, so they are rebuilt in place (copy, clear,
refill), which keeps their identity.
"""

from __future__ import annotations

import sys
from typing import Any

MIN_BYTES = 256 * 1024  # tables smaller than this are left alone
ENTRY_BYTES = 64  # generous size of one entry in a right-sized table


def shrink(table: Any) -> bool:
    """Rebuild ``table`` (a dict or a set) in place when its allocation is more than eight times
    what its entries need; returns whether it did."""
    size = sys.getsizeof(table)
    if size < MIN_BYTES or size < 8 * ENTRY_BYTES * (len(table) + 64):
        return False
    kept = table.copy()
    table.clear()
    table.update(kept)
    return True
