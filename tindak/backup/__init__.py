"""Backup and restore: the database's rows and the evidence files, in one checked .tar.gz.

A backup is untrusted input: whoever can write the file chooses every byte of it. So it
holds data only, never a schema: `manifest.json` (Tindak version, schema revision, when,
which database, the columns and row count of every table, sha256 and size of every piece),
one data piece per table (`data/<table>.jsonl` from SQLite, JSON arrays Tindak parses
itself; `data/<table>.copy` from PostgreSQL, COPY text that PostgreSQL parses as values of
the column types Tindak's migrations made) and `files/` (the evidence under TINDAK_HOME/files).

A restore reads the archive whole before it touches anything live, builds a fresh database
from Tindak's own migrations at the backup's revision, loads only the rows of the tables
those migrations made, checks references and row counts, brings it up to date, marks
messages caught in flight `unknown`, and only then swaps it in; a bad backup changes nothing
live. Backups are consistent while others write: one snapshot on either database.

One module a concept: `manifest` (the pydantic model), `archive` (the tar, checked whole),
`schema` (Tindak's migrations and the checks against them), `sqlite` and `postgres` (rows
out and in), `swap` (the moment a restore happens), `entry` (`backup` and `restore`).
"""

from tindak.backup.entry import BackupResult, RestoreResult, Say, backup, restore
from tindak.backup.manifest import FORMAT, FORMAT_VERSION, Manifest, Piece
from tindak.backup.schema import _known_revisions, _migrate  # tests build older schemas

__all__ = ["FORMAT", "FORMAT_VERSION", "BackupResult", "Manifest", "Piece", "RestoreResult",
           "Say", "_known_revisions", "_migrate", "backup", "restore"]
