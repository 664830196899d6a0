"""The backup manifest, read as hostile input: each forged field is refused in one line that
names it, and a well-formed manifest reads back as it was written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tindak.backup.manifest import Manifest
from tindak.errors import InvalidInput

PIECE = {"sha256": "0" * 64, "size": 1}


def manifest(**change: Any) -> bytes:
    body = {"format": "tindak-backup", "format_version": 2, "dialect": "sqlite",
            "schema_revision": "0001", "tables": {"unit": 1}, "columns": {"unit": ["id"]},
            "pieces": {"data/unit.jsonl": PIECE}}
    return json.dumps({**body, **change}).encode()


def test_a_well_formed_manifest_reads_back_as_written():
    m = Manifest.from_json(manifest(), "b.tar.gz")
    m.check_pieces()
    assert Manifest.from_json(m.to_json(), "b.tar.gz") == m
    assert (m.rows, m.data_piece("unit")) == (1, "data/unit.jsonl")


@pytest.mark.parametrize(("raw", "expected"), [
    (b"{", "manifest is not JSON"),
    (b"[1]", "no Tindak manifest"),
    (manifest(format="other"), "no Tindak manifest"),
    (manifest(format_version=3), "newer Tindak (backup format 3)"),
    (manifest(tables={"Unit": 1}, columns={"Unit": ["id"]}), "tables.Unit"),
    (manifest(tables={"unit": -1}), "tables.unit"),
    (manifest(columns={"unit": ["id", "id"]}), "named twice"),
    (manifest(columns={"unit": []}), "columns.unit"),
    (manifest(columns={}), "tables and columns disagree"),
    (manifest(pieces={"data/unit.jsonl": PIECE, "files/../x": PIECE}), "unsafe entry"),
    (manifest(pieces={"data/unit.jsonl": PIECE, "files": PIECE, "files/a": PIECE}),
     "lies inside another piece"),
    (manifest(pieces={"data/unit.jsonl": {"sha256": "x", "size": 1}}), "sha256"),
    (manifest(format_version=1), "names no database piece"),
])
def test_a_forged_manifest_is_refused_in_one_line(raw: bytes, expected: str):
    with pytest.raises(InvalidInput) as refused:
        Manifest.from_json(raw, "b.tar.gz")
    assert expected in str(refused.value) and "\n" not in str(refused.value)
    assert "b.tar.gz" in str(refused.value)


@pytest.mark.parametrize(("pieces", "expected"), [
    ({}, "lists no piece data/unit.jsonl"),
    ({"data/unit.jsonl": PIECE, "evil.sh": PIECE}, "neither a table's data"),
])
def test_pieces_are_the_tables_data_and_evidence_only(pieces: dict, expected: str):
    m = Manifest.from_json(manifest(pieces=pieces), "b.tar.gz")
    with pytest.raises(ValueError, match=expected):
        m.check_pieces()
