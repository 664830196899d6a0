"""The import's file format: the kinds of file, the columns each may have and
those it must; a header's other spellings. The template and the readers both use these, so
a file written from the template is read as it was meant."""

from __future__ import annotations

KINDS = ("units", "people", "recommendations", "participants")
# Every column a file of each kind may have, in the order errors are listed.
COLUMNS: dict[str, tuple[str, ...]] = {
    "units": ("code", "name", "parent", "timezone"),
    "people": ("email", "name", "unit", "role", "supervisor"),
    "recommendations": (
        "ref", "forum", "forum_date", "unit", "text", "category", "owner", "deadline",
        "priority", "place", "minutes_ref",
    ),
    # A Berita Acara's participants, each invited to follow the forum (SPEC §7); their
    # name and organisation are checked but never stored.
    "participants": ("forum", "forum_date", "name", "email", "organisation"),
}
# Columns without a sensible default; the others may be left out of a file altogether.
REQUIRED: dict[str, tuple[str, ...]] = {
    "units": ("code", "name"),
    "people": ("email", "name", "unit"),
    "recommendations": ("ref", "forum", "forum_date", "text", "owner", "deadline"),
    "participants": ("forum", "forum_date", "email"),
}
HEADER_ALIASES = {"roles": "role", "organization": "organisation", "instansi": "organisation",
                  "nama": "name"}
