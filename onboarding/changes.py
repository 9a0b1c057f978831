"""What reconciling one object did to it, or would do in a dry run: the one vocabulary of kube objects,
federated credentials and helm releases. A ``StrEnum``: its value is the word the results and reports show."""

from __future__ import annotations

from enum import StrEnum


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    INSTALLED = "installed"
    UPGRADED = "upgraded"
    UNINSTALLED = "uninstalled"
    WOULD_CREATE = "would create"
    WOULD_UPDATE = "would update"
    WOULD_INSTALL = "would install"
    WOULD_UPGRADE = "would upgrade"
    WOULD_UNINSTALL = "would uninstall"
    # left as they are
    UNCHANGED = "unchanged"
    ABSENT = "absent"
    NOT_OURS = "not ours"

    @property
    def planned(self) -> bool:
        """A dry run's: what the real run would do."""
        return self.value.startswith("would ")

    @property
    def applied(self) -> Change:
        """What a planned change reports once made (``would create`` -> ``created``); others are themselves."""
        return APPLIED.get(self, self)


APPLIED = {
    Change.WOULD_CREATE: Change.CREATED,
    Change.WOULD_UPDATE: Change.UPDATED,
    Change.WOULD_INSTALL: Change.INSTALLED,
    Change.WOULD_UPGRADE: Change.UPGRADED,
    Change.WOULD_UNINSTALL: Change.UNINSTALLED,
}
