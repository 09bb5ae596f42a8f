"""The ``filemgr`` agent: touch, remove and inspect files on nodes.

Compatible with Choria's filemgr agent: same actions, inputs and outputs.
"""

from __future__ import annotations

from .agent import DEFAULT_TOUCH_FILE, Filemgr

__all__ = ["DEFAULT_TOUCH_FILE", "Filemgr"]
__version__ = "0.1.0"
