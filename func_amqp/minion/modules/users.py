"""func's `users` module, its read-only half: who and which groups exist on the minion.

These are the calls func's `users` module answered from the password and group databases (so
LDAP or SSSD accounts count too), with func's names and shapes: existence tests answer bools,
`*_info` answer the pwd/grp entry as a list ([name, passwd, uid, gid, gecos, home, shell] or
[name, passwd, gid, [members]]) or False when there is none, conversions answer the id or name
or False, the plural forms take several arguments and answer one result each, in order.

func's account-changing calls (user_add, user_del, passwd...) are not here: func built shell
command lines out of the caller's text for them, and `command.run` does the same job openly.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable
from typing import Any

from func_amqp.minion import func_module


class UsersModule(func_module.FuncModule):
    version = "0.5.1"
    api_version = "0.5"
    description = "Users and groups of the minion (read-only)."

    # existence
    def user_exists(self, user: str) -> bool:
        return _user(user) is not None

    def uid_exists(self, uid: Any) -> bool:
        return _uid(uid) is not None

    def group_exists(self, group: str) -> bool:
        return _group(group) is not None

    def gid_exists(self, gid: Any) -> bool:
        return _gid(gid) is not None

    def users_exist(self, *users: str) -> list[bool]:
        return _each(self.user_exists, users)

    def uids_exist(self, *uids: Any) -> list[bool]:
        return _each(self.uid_exists, uids)

    def groups_exist(self, *groups: str) -> list[bool]:
        return _each(self.group_exists, groups)

    def gids_exist(self, *gids: Any) -> list[bool]:
        return _each(self.gid_exists, gids)

    # listings
    def user_list(self) -> list[str]:
        return [p.pw_name for p in pwd.getpwall()]

    def uid_list(self) -> list[int]:
        return [p.pw_uid for p in pwd.getpwall()]

    def group_list(self) -> list[str]:
        return [g.gr_name for g in grp.getgrall()]

    def gid_list(self) -> list[int]:
        return [g.gr_gid for g in grp.getgrall()]

    def users_list(self) -> list[str]:
        return self.user_list()

    def uids_list(self) -> list[int]:
        return self.uid_list()

    def groups_list(self) -> list[str]:
        return self.group_list()

    def gids_list(self) -> list[int]:
        return self.gid_list()

    # entries
    def user_info(self, user: str) -> list[Any] | bool:
        return _entry(_user(user))

    def uid_info(self, uid: Any) -> list[Any] | bool:
        return _entry(_uid(uid))

    def group_info(self, group: str) -> list[Any] | bool:
        return _entry(_group(group))

    def gid_info(self, gid: Any) -> list[Any] | bool:
        return _entry(_gid(gid))

    def users_info(self, *users: str) -> list[Any]:
        return _each(self.user_info, users)

    def uids_info(self, *uids: Any) -> list[Any]:
        return _each(self.uid_info, uids)

    def groups_info(self, *groups: str) -> list[Any]:
        return _each(self.group_info, groups)

    def gids_info(self, *gids: Any) -> list[Any]:
        return _each(self.gid_info, gids)

    def user_inventory(self) -> list[list[Any]]:
        return [_entry(p) for p in pwd.getpwall()]

    def group_inventory(self) -> list[list[Any]]:
        return [_entry(g) for g in grp.getgrall()]

    def users_inventory(self) -> list[list[Any]]:
        return self.user_inventory()

    def groups_inventory(self) -> list[list[Any]]:
        return self.group_inventory()

    def inventory(self) -> dict[str, list[list[Any]]]:
        """Both databases, for func-inventory."""
        return {"users": self.user_inventory(), "groups": self.group_inventory()}

    # conversions
    def user_to_uid(self, user: str) -> int | bool:
        entry = _user(user)
        return False if entry is None else entry.pw_uid

    def uid_to_user(self, uid: Any) -> str | bool:
        entry = _uid(uid)
        return False if entry is None else entry.pw_name

    def group_to_gid(self, group: str) -> int | bool:
        entry = _group(group)
        return False if entry is None else entry.gr_gid

    def gid_to_group(self, gid: Any) -> str | bool:
        entry = _gid(gid)
        return False if entry is None else entry.gr_name

    def users_to_uids(self, *users: str) -> list[Any]:
        return _each(self.user_to_uid, users)

    def uids_to_users(self, *uids: Any) -> list[Any]:
        return _each(self.uid_to_user, uids)

    def groups_to_gids(self, *groups: str) -> list[Any]:
        return _each(self.group_to_gid, groups)

    def gids_to_groups(self, *gids: Any) -> list[Any]:
        return _each(self.gid_to_group, gids)

    def register_method_args(self) -> dict[str, Any]:
        kinds = {"user": ("string", "A user name"), "uid": ("int", "A uid"),
                 "group": ("string", "A group name"), "gid": ("int", "A gid")}
        spec: dict[str, Any] = {}
        for arg, (kind, text) in kinds.items():
            one = {arg: {"type": kind, "optional": False, "description": text}}
            spec[f"{arg}_exists"] = {"args": one, "description": f"Does this {arg} exist"}
            spec[f"{arg}_info"] = {"args": one, "description": f"The entry for a {arg}, or False"}
            spec[f"{arg}_list"] = {"args": {}, "description": f"Every {arg}"}
        for method in ("user_to_uid", "uid_to_user", "group_to_gid", "gid_to_group"):
            arg = method.split("_")[0]
            spec[method] = {"args": {arg: {"type": kinds[arg][0], "optional": False, "description": kinds[arg][1]}},
                            "description": f"Converts a {arg}, or False"}
        for method in ("user_inventory", "group_inventory", "inventory"):
            spec[method] = {"args": {}, "description": "Every entry of the database(s)"}
        return spec


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a name (string), not {type(value).__name__}")
    if not value or "\x00" in value:
        raise ValueError(f"not a {what} name: {value!r}")
    return value


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{what} must be an int, not {value!r}") from None
    if not 0 <= number < 2**32:
        raise ValueError(f"{what} {number} is out of range")
    return number


def _user(user: Any) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(_name(user, "user"))
    except KeyError:
        return None


def _uid(uid: Any) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(_number(uid, "uid"))
    except KeyError:
        return None


def _group(group: Any) -> grp.struct_group | None:
    try:
        return grp.getgrnam(_name(group, "group"))
    except KeyError:
        return None


def _gid(gid: Any) -> grp.struct_group | None:
    try:
        return grp.getgrgid(_number(gid, "gid"))
    except KeyError:
        return None


def _entry(entry: pwd.struct_passwd | grp.struct_group | None) -> list[Any] | bool:
    return False if entry is None else [list(f) if isinstance(f, list) else f for f in entry]


def _each(fn: Callable[[Any], Any], values: tuple[Any, ...]) -> list[Any]:
    return [fn(v) for v in values]
