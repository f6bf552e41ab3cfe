"""Which CiviCRM permissions each coprod command needs, least first, and why.

One list serves the error advice (``civicrm_api``), the checks ``coprod install`` makes and the
recipe README (a test keeps the README in step with it). What is here was checked on a CiviCRM
6.17.2 site with roles holding exactly these permissions (tests/fixtures/platforms/civicrm):

- ``Campaign.get`` needs nothing beyond ``access CiviCRM``: ``manage campaign`` is not asked for.
- Without ``view all contacts`` a key that can log in gets HTTP 200 with no rows from Contact (and
  from anything joined to contacts): an empty answer, not a refusal.
- Without ``access all custom data`` custom fields are left out of every answer without an error.
- Every Activity write (a new flag, an update, resolving) needs ``view all activities``.
- ``delete activities`` is *not* needed: an update that names the activity's contacts makes CiviCRM
  delete and re-create its ActivityContact rows (and answer 403 half-way without that permission),
  so coprod never sends contacts when it updates a flag.
"""

from __future__ import annotations

from typing import NamedTuple


class Permission(NamedTuple):
    name: str
    why: str


TO_READ: tuple[Permission, ...] = (
    Permission("access CiviCRM", "every call"),
    Permission("authenticate with api key", "log in with the API key"),
    Permission(
        "view all contacts",
        "read the panel's contacts, and the flags on them; without it CiviCRM answers with no rows",
    ),
    Permission("access all custom data", "read custom fields; without it CiviCRM leaves them out silently"),
    Permission("access CiviEvent", "read events and participants"),
    Permission("view event info", "read events (sessions)"),
    Permission("view event participants", "read participants (attendance)"),
    Permission("access CiviContribute", "read contributions (payments)"),
)
"""``coprod check`` and ``coprod sync --dry-run``: read only. Campaigns need nothing more."""

TO_WRITE_BACK: tuple[Permission, ...] = (
    Permission("view all activities", "record a flag activity, update it or mark it Completed"),
    Permission("edit all contacts", "record activities about contacts"),
)
"""``coprod sync`` adds these to the read permissions."""

TO_INSTALL: tuple[Permission, ...] = (
    Permission(
        "administer CiviCRM",
        "create the activity type and the fingerprint field; only while `coprod install` runs",
    ),
)
"""``coprod install`` adds this to the others, only while it runs."""

OPTIONAL: tuple[Permission, ...] = (
    Permission(
        "view debug output",
        "lets coprod show CiviCRM's real error instead of 'Sorry an error occurred (Error ID ...)'",
    ),
)

NOT_NEEDED: tuple[str, ...] = ("manage campaign", "delete activities")
"""Asked for by earlier versions of the README; not needed (see the module docstring)."""

ENTITY_READ: dict[str, tuple[str, ...]] = {
    "Contact": ("access CiviCRM", "view all contacts"),
    "Event": ("access CiviCRM", "access CiviEvent", "view event info"),
    "Participant": ("access CiviCRM", "access CiviEvent", "view event participants"),
    "Contribution": ("access CiviCRM", "access CiviContribute"),
    "Activity": ("access CiviCRM", "view all contacts"),
    "Campaign": ("access CiviCRM",),
    "Group": ("access CiviCRM", "view all contacts"),
    "Tag": ("access CiviCRM",),
}
"""What reading each entity needs (for the advice on a 403)."""

ACTIVITY_WRITE: tuple[str, ...] = ("access CiviCRM", "view all activities", "edit all contacts")
INSTALL_ENTITIES = frozenset({"OptionValue", "CustomGroup", "CustomField"})
READ_ACTIONS = frozenset({"get", "getFields", "checkAccess", "getActions", "autocomplete"})


def names(permissions: tuple[Permission, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in permissions)


def for_call(entity: str, action: str) -> tuple[str, ...]:
    """The permissions an API call needs, for the advice when CiviCRM refuses it."""
    if action in READ_ACTIONS:
        return ENTITY_READ.get(entity, ("access CiviCRM",))
    if entity in INSTALL_ENTITIES:
        return names(TO_INSTALL)
    return ACTIVITY_WRITE


def quoted(items: tuple[str, ...] | list[str]) -> str:
    """'a', 'b' and 'c'."""
    parts = [f"'{n}'" for n in items]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
