"""ADLS Gen2 storage for the sandbox: Azurite (the real emulator) behind an HTTPS front that serves the DFS
List Paths API, proxies blob reads and writes, and enforces storage data roles from the sandbox's role
assignments. See ``docs/sandbox-storage-and-charts.md``."""

from .stack import StorageStack

__all__ = ["StorageStack"]
