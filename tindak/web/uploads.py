"""Upload screening: an uploaded file copied to a temporary folder in chunks, refused when
its type is not accepted, it is a program or a script, or it is over its size cap."""

from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.datastructures import UploadFile

from tindak.errors import N_, InvalidInput

CHUNK = 64 * 1024

# A program is refused whatever its name says: Windows (MZ), ELF, Mach-O (both byte orders
# and fat binaries) and scripts (#!); and whatever the browser declares as a program or as
# active content a browser would run.
PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                 b"\xca\xfe\xba\xbe", b"#!")
PROGRAM_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
    "application/vnd.microsoft.portable-executable", "application/x-msi",
    "application/x-executable", "application/x-sharedlib", "application/x-mach-binary",
    "application/x-sh", "application/x-shellscript", "text/x-shellscript",
    "application/javascript", "text/javascript", "text/html", "application/xhtml+xml",
    "image/svg+xml",
})


def spool_upload(upload: UploadFile, folder: Path, max_bytes: int,
                 allowed: set[str] | frozenset[str]) -> Path:
    """Copy an upload to `folder` in chunks, refusing a wrong type or more than max_bytes.

    The file keeps its own (sanitised) name so that messages can quote it.
    """
    name = Path((upload.filename or "upload").replace("\\", "/")).name
    name = "".join(c for c in name if c.isalnum() or c in "._- ")[:120].strip() or "upload"
    if Path(name).suffix.lower() not in allowed:
        raise InvalidInput(N_("file type '%(type)s' is not accepted (use one of: %(allowed)s)"),
                           type=Path(name).suffix or name, allowed=", ".join(sorted(allowed)))
    upload.file.seek(0)
    head = upload.file.read(8)
    if head.startswith(PROGRAM_MAGIC) or (upload.content_type or "").lower() in PROGRAM_TYPES:
        raise InvalidInput(N_("'%(name)s' is a program or a script, not a document: it is not "
                              "accepted"), name=name)
    folder.mkdir(parents=True, exist_ok=True)
    dest, n = folder / name, 1
    while dest.exists():  # two uploads of the same name keep both
        n += 1
        dest = folder / f"{Path(name).stem} ({n}){Path(name).suffix}"
    size = 0
    upload.file.seek(0)
    with dest.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                dest.unlink(missing_ok=True)
                raise InvalidInput(N_("the file is larger than %(mb)s MB"),
                                   mb=max_bytes // 2**20)
            out.write(chunk)
    return dest


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="tindak-upload-")
