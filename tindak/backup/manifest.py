"""The manifest of a backup: what it holds, in a shape a forged one cannot get past.

`manifest.json` is untrusted until `Manifest.from_json` accepts it: table and column names are
plain identifiers, row counts and sizes are not negative, every piece has a plain relative name,
a sha256 and a place of its own (none inside another). A refusal is one `InvalidInput` line in
the user's language. Which pieces the tables need depends on the database restored into, so
`check_pieces` is called once that database's kind has been compared.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tindak import __version__
from tindak.errors import N_, InvalidInput

FORMAT = "tindak-backup"
FORMAT_VERSION = 2  # 2: data only (one piece per table); 1: a whole database file or pg_dump
MANIFEST = "manifest.json"
SQLITE_PIECE = "tindak.db"  # format 1 only
PG_PIECE = "tindak.pgdump"  # format 1 only: only its table data is read, never its SQL
DATA = "data"
FILES = "files"
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _safe_name(name: str) -> PurePosixPath:
    """A plain relative name: no absolute path, no `..`, no empty or odd parts."""
    p = PurePosixPath(name)
    if (not name or name != p.as_posix() or p.is_absolute() or not p.parts
            or any(part in ("", ".", "..") for part in p.parts) or "\\" in name
            or any(ord(ch) < 32 for ch in name) or len(name) > 1000):
        raise ValueError(f"unsafe entry '{name[:200]}'")
    return p


def _identifier(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError("a table or column name is malformed")
    return name


def _plain(name: str) -> str:
    _safe_name(name)
    return name


def _distinct(cols: list[str]) -> list[str]:
    if len(set(cols)) != len(cols):
        raise ValueError("a column is named twice")
    return cols


Identifier = Annotated[str, AfterValidator(_identifier)]
PieceName = Annotated[str, AfterValidator(_plain)]
Columns = Annotated[list[Identifier], Field(min_length=1), AfterValidator(_distinct)]


def data_piece(dialect: str, table: str) -> str:
    """The archive's name for a table's rows: JSON lines from SQLite, COPY text from PostgreSQL."""
    return f"{DATA}/{table}." + ("jsonl" if dialect == "sqlite" else "copy")


class Piece(BaseModel):
    """One file of the archive: its checksum and size."""

    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """What a backup holds; written last into the archive, read first on restore."""

    model_config = ConfigDict(extra="ignore")
    format: Literal["tindak-backup"]
    format_version: int = Field(default=FORMAT_VERSION, ge=1, le=FORMAT_VERSION)
    dialect: Literal["sqlite", "postgresql"]
    schema_revision: str | None
    tables: dict[Identifier, Annotated[int, Field(ge=0)]]
    columns: dict[Identifier, Columns] = Field(default_factory=dict)
    pieces: dict[PieceName, Piece] = Field(default_factory=dict)
    created_at: str = ""
    tindak_version: str = __version__
    database: str | None = None  # format 1: the piece holding the database
    pg_schema: str | None = None
    pg_server: str | None = None

    @model_validator(mode="after")
    def _agrees(self) -> Manifest:
        """What one field cannot say alone: its tables, columns and pieces agree."""
        if self.format_version >= 2 and set(self.columns) != set(self.tables):
            raise ValueError("its tables and columns disagree")
        if self.format_version < 2 and (self.database not in (SQLITE_PIECE, PG_PIECE)
                                        or self.database not in self.pieces):
            raise ValueError("it names no database piece")
        names = set(self.pieces)
        for name in names:  # a file that is also a folder of another would fail half-way
            parts = name.split("/")
            if any("/".join(parts[:i]) in names for i in range(1, len(parts))):
                raise ValueError(f"'{name}' lies inside another piece")
        return self

    def check_pieces(self) -> None:
        """Its pieces are each table's data (named for its dialect) and evidence files."""
        if self.format_version >= 2:
            data = {self.data_piece(t) for t in self.tables}
        else:
            assert self.database is not None  # format 1 names it (checked on reading)
            data = {self.database}
        missing = data - set(self.pieces)
        if missing:
            raise ValueError(f"it lists no piece {sorted(missing)[0]}")
        for name in set(self.pieces) - data:
            if not name.startswith(FILES + "/"):
                raise ValueError(f"'{name}' is neither a table's data nor an evidence file")

    def data_piece(self, table: str) -> str:
        return data_piece(self.dialect, table)

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise _refusal(exc.errors(include_url=False), where) from None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def evidence(self) -> list[str]:
        return sorted(name for name in self.pieces if name.startswith(FILES + "/"))


def _refusal(errors: list[Any], where: str) -> InvalidInput:
    """The one line that says why, most telling first: not JSON, not ours, too new, malformed."""
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds:
        return InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is not JSON"),
                            where=where)
    if "model_type" in kinds or any(e["loc"][:1] == ("format",) for e in errors):
        return InvalidInput(N_("%(where)s is not a Tindak backup: no Tindak manifest"),
                            where=where)
    for e in errors:
        if e["loc"] == ("format_version",) and e["type"] == "less_than_equal":
            return InvalidInput(N_("%(where)s was written by a newer Tindak (backup format "
                                   "%(version)s): upgrade Tindak to restore it"),
                                where=where, version=e["input"])
    first = errors[0]
    why = str(first.get("msg", "")).removeprefix("Value error, ")
    loc = ".".join(str(p) for p in first.get("loc", ()))
    return InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is malformed "
                           "(%(detail)s)"), where=where, detail=f"{loc}: {why}" if loc else why)
