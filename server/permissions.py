"""MLflow's permission levels (the basic-auth plug-in's model), ordered so a check is one comparison."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    NO_PERMISSIONS = "NO_PERMISSIONS"
    READ = "READ"
    EDIT = "EDIT"  # read and update
    MANAGE = "MANAGE"  # everything, including delete and granting permissions

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Permission) -> bool:
        return self.rank >= needed.rank


_RANK = {Permission.NO_PERMISSIONS: 0, Permission.READ: 1, Permission.EDIT: 2, Permission.MANAGE: 3}


def parse_permission(value: str) -> Permission:
    try:
        return Permission(value.upper())
    except ValueError:
        names = ", ".join(p.value for p in Permission)
        raise ValueError(f"Unknown permission {value!r}: expected one of {names}") from None
