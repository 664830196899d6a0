"""The import (SPEC §3): CSV files and XLSX workbooks of units, people and recommendations.

All or nothing, and streamed: no step holds every row. A first pass (`checks`) reads the files
row by row (`readers`) and checks each row (`rows`), keeping only what checks across rows need
(units and people, which are few; each recommendation's ref and where it was given; the
forums) and spooling the checked recommendations to a temporary file (`spool`). Only when no
row is wrong does the second pass (`bulk`) read that spool back in batches of `BATCH_SIZE`,
compare each batch with the rows stored under the same refs and write it with bulk Core
statements, all inside one transaction (`entry`): a failure half-way rolls every batch back.
The checks that need the database (known codes and emails, cycles) run against units, people
and forums loaded whole (`stored`: small maps); stored recommendations are only ever read a
batch at a time.
"""

from models import CATEGORIES  # the names the single module offered, kept for its users
from tindak.importer.bulk import BATCH_SIZE, write_forums, write_recs
from tindak.importer.checks import Checked, RecChecks, check_files
from tindak.importer.columns import COLUMNS, HEADER_ALIASES, KINDS, REQUIRED
from tindak.importer.entry import KIND_WORDS, ImportReport, import_files
from tindak.importer.plan import Change, Counts, Plan
from tindak.importer.problems import MAX_ERRORS, At, Problems
from tindak.importer.readers import Source, close_sources, open_csv, open_sources, open_xlsx
from tindak.importer.rows import ROLES, Parsed, PersonIn, RecIn, UnitIn
from tindak.importer.scope import Scope
from tindak.importer.spool import SPOOL_CHUNK, Spool
from tindak.importer.stored import CHUNK, Stored
from tindak.itemrules import PRIORITIES
from tindak.settings import TIMEZONES

__all__ = [
    "BATCH_SIZE", "CATEGORIES", "CHUNK", "COLUMNS", "HEADER_ALIASES", "KINDS", "KIND_WORDS",
    "MAX_ERRORS", "PRIORITIES", "REQUIRED", "ROLES", "SPOOL_CHUNK", "TIMEZONES", "At",
    "Change", "Checked", "Counts", "ImportReport", "Parsed", "PersonIn", "Plan", "Problems",
    "RecChecks", "RecIn", "Scope", "Source", "Spool", "Stored", "UnitIn", "check_files",
    "close_sources", "import_files", "open_csv", "open_sources", "open_xlsx", "write_forums",
    "write_recs",
]
