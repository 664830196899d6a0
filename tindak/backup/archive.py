"""The archive of a backup: a .tar.gz written with every piece's sha256, read back whole.

Reading treats the file as hostile: every header is checked before any content is read
(only regular files with plain relative names, no duplicates, no more bytes than the disk can
take), the manifest must list exactly the entries there are, size for size, and each piece
is checked against its sha256 as it is unpacked. Any refusal is one line, before anything
live is touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tindak.backup.manifest import FILES, MANIFEST, Manifest, Piece, _safe_name
from tindak.errors import N_, InvalidInput, NotFound, TindakError

CHUNK = 1 << 20
MAX_MANIFEST = 50 * 1024 * 1024
MAX_MEMBERS = 2_000_000
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


# ------------------------------------------------------------------------ writing


class _Hashing:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, f: IO[bytes]):
        self.f, self.h = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> Piece:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = path.stat().st_size, mtime, 0o600
    with path.open("rb") as f:
        hashing = _Hashing(f)
        tar.addfile(info, hashing)
    return Piece(sha256=hashing.h.hexdigest(), size=info.size)


def _evidence_files(folder: Path) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        return []
    return sorted((f"{FILES}/{p.relative_to(folder).as_posix()}", p)
                  for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _write(part: str, entries: Iterable[tuple[str, Path]], mtime: int,
           fields: dict[str, Any]) -> Manifest:
    """Every entry into the archive `part`, hashed as it goes in; the manifest last."""
    pieces: dict[str, Piece] = {}
    with tarfile.open(part, "w:gz", compresslevel=6) as tar:
        for name, p in entries:
            pieces[name] = _add(tar, name, p, mtime)
        # Not validated here: a live database is not refused, its backup is, when read back.
        m = Manifest.model_construct(**fields, pieces=pieces)
        raw = m.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(raw), mtime, 0o600
        tar.addfile(info, io.BytesIO(raw))
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    return m


# ------------------------------------------------------------------------ reading


@contextmanager
def _reading(where: str) -> Iterator[None]:
    """Errors of reading the archive (not of what we do with it) as one clear line."""
    try:
        yield
    except TindakError:
        raise
    except READ_ERRORS as exc:
        raise InvalidInput(N_("%(where)s cannot be read: it is damaged or not a Tindak backup "
                              "(%(reason)s)"), where=where,
                           reason=f"{type(exc).__name__}: {exc}"[:200]) from None


def _open_archive(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise NotFound(N_("no backup at %(path)s"), path=str(path))
    with _reading(str(path)):
        return tarfile.open(path, "r:gz")


def _scan(tar: tarfile.TarFile, where: str, room: int) -> dict[str, tarfile.TarInfo]:
    """Every entry's header, refused at the first bad one before its content is read:
    links, devices, odd names, duplicates, and more bytes than the disk can take."""
    members: dict[str, tarfile.TarInfo] = {}
    total = count = 0
    while (member := tar.next()) is not None:
        count += 1
        if count > MAX_MEMBERS:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: more than %(n)s "
                                  "entries"), where=where, n=MAX_MEMBERS)
        name = member.name
        try:
            _safe_name(name)
        except ValueError:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: unsafe entry "
                                  "'%(name)s'"), where=where, name=name[:200]) from None
        if member.isdir():
            continue  # a folder carries nothing; its files are checked one by one
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise InvalidInput(N_("%(where)s is not a Tindak backup: '%(name)s' is a link or a "
                                  "device, not a file"), where=where,
                               name=name[:200])
        if name in members:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: '%(name)s' appears "
                                  "twice"), where=where, name=name[:200])
        total += member.size
        if total > room:
            raise InvalidInput(N_("%(where)s would unpack to more than %(room)s, more than "
                                  "TINDAK_HOME has room for: nothing was changed"),
                               where=where, room=_size(room))
        members[name] = member
    return members


def _read_manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   where: str) -> Manifest:
    member = members.get(MANIFEST)
    if member is None:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: no "
                              "%(name)s"), where=where, name=MANIFEST)
    f = tar.extractfile(member)
    if f is None or member.size > MAX_MANIFEST:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: bad "
                              "%(name)s"), where=where, name=MANIFEST)
    return Manifest.from_json(f.read(), where)


def _match(m: Manifest, members: dict[str, tarfile.TarInfo], where: str) -> None:
    """The manifest's pieces are those its tables need, and the archive's entries, size for
    size."""
    try:
        m.check_pieces()
    except ValueError as exc:
        raise InvalidInput(N_("%(where)s is not a Tindak backup: its manifest is malformed "
                              "(%(detail)s)"), where=where, detail=str(exc)) from None
    for name, info in members.items():
        if name == MANIFEST:
            continue
        piece = m.pieces.get(name)
        if piece is None:
            raise InvalidInput(N_("%(where)s is not a Tindak backup: unexpected entry "
                                  "'%(name)s'"), where=where, name=name[:200])
        if piece.size != info.size:
            raise InvalidInput(N_("%(where)s is damaged or was altered: '%(name)s' does not "
                                  "match its size in the manifest; nothing was restored"),
                               where=where, name=name)
    missing = sorted(set(m.pieces) - set(members))
    if missing:
        raise InvalidInput(N_("%(where)s is incomplete: %(name)s is missing (%(n)s piece(s) "
                              "missing)"), where=where, name=missing[0], n=len(missing))


def _extract(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], m: Manifest,
             into: Path, where: str) -> None:
    """Every piece of the manifest, checked against its sha256; nothing else is taken."""
    for name, member in members.items():
        if name == MANIFEST:
            continue
        dest = into.joinpath(*_safe_name(name).parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        h, left = hashlib.sha256(), member.size
        with dest.open("xb") as out:
            while left and (chunk := src.read(min(CHUNK, left))):
                h.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        if left or h.hexdigest() != m.pieces[name].sha256:
            raise InvalidInput(N_("%(where)s is damaged or was altered: '%(name)s' does not "
                                  "match its sha256 in the manifest; nothing was restored"),
                               where=where, name=name)
