"""The sandbox's Helm chart repository (aad-pod-identity 4.1.18: the upstream package or the stand-in chart)."""

from .repo import ChartRepo

__all__ = ["ChartRepo"]
