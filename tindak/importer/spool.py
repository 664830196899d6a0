"""The checked recommendations between the two passes, in an unlinked temporary file: the
memory holds one record of SPOOL_CHUNK rows at a time, whatever the size of the import."""

from __future__ import annotations

import marshal
import struct
import tempfile
from collections.abc import Iterator
from typing import Any

SPOOL_CHUNK = 1_000  # checked recommendations per record of the spool file


class Spool:
    """The checked recommendations, in a temporary file between the two passes: written in
    records of SPOOL_CHUNK rows (marshal: plain tuples, dates as ordinals), read back in
    batches. The file is unlinked as soon as it is made, and closed with the import."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="tindak-import-")
        self._rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= SPOOL_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            data = marshal.dumps(self._rows)
            self._file.write(struct.pack("<Q", len(data)) + data)
            self._rows = []

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        self._flush()
        self._file.seek(0)
        batch: list[tuple[Any, ...]] = []
        while head := self._file.read(8):
            (length,) = struct.unpack("<Q", head)
            batch.extend(marshal.loads(self._file.read(length)))
            while len(batch) >= size:
                yield batch[:size]
                del batch[:size]
        if batch:
            yield batch

    def close(self) -> None:
        self._file.close()
