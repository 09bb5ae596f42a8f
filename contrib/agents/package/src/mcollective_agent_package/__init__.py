"""The ``package`` agent: query and manage operating system packages through whichever
package manager the node has (apt/dpkg or yum/dnf/rpm).

Compatible with Choria's package agent: same actions, inputs and outputs.
"""

from __future__ import annotations

from .agent import Package
from .base import PackageStatus, Provider, detect_provider
from .versions import split_deb_version

__all__ = ["Package", "PackageStatus", "Provider", "detect_provider", "split_deb_version"]
__version__ = "0.1.0"
