"""`tindak template`: the import workbook, with headers, an example row, drop-downs and
instructions in Indonesian. The workbook imports cleanly as it is (its example rows)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from models import CATEGORIES
from tindak.errors import N_, InvalidInput
from tindak.importer.columns import COLUMNS, REQUIRED
from tindak.importer.rows import ROLES
from tindak.itemrules import PRIORITIES
from tindak.settings import TIMEZONES

DATA_ROWS = 2000  # how far down the drop-downs reach
ROLE_CHOICES = (*ROLES, "planner;owner", "owner;leader", "planner;leader", "planner;owner;leader")

EXAMPLES: dict[str, list[object]] = {
    "units": ["BPS-3404", "BPS Kabupaten Sleman", "", "Asia/Jakarta"],
    "people": ["dewi.lestari@bps-sleman.example.go.id", "Dewi Lestari, S.Si.", "BPS-3404",
               "planner;owner", ""],
    "recommendations": [
        "FKP-3404-2026-01", "Forum Konsultasi Publik BPS Kabupaten Sleman 2026",
        date(2026, 4, 15), "BPS-3404",
        "Menyusun dan mempublikasikan SOP penanganan pengaduan yang jelas, termasuk "
        "saluran bagi penyandang disabilitas.",
        "pengaduan", "dewi.lestari@bps-sleman.example.go.id", "+30 hk", "high",
        "Aula BPS Kabupaten Sleman", "BA-01/FKP/3404/2026",
    ],
}
WIDTHS = {
    "code": 16, "name": 36, "parent": 16, "timezone": 16, "email": 38, "unit": 16, "role": 22,
    "supervisor": 38, "ref": 20, "forum": 44, "forum_date": 13, "text": 70, "category": 20,
    "owner": 38, "deadline": 13, "priority": 10, "place": 30, "minutes_ref": 24,
}
# Text-formatted columns: Excel keeps "+30 hk" and codes like "0101" as typed.
TEXT_COLUMNS = ("code", "parent", "unit", "deadline", "ref")
# The sheets of the template; a participants list (SPEC §7) is its own file.
TEMPLATE_KINDS = ("units", "people", "recommendations")
LISTS = {"category": CATEGORIES, "role": ROLE_CHOICES, "priority": PRIORITIES,
         "timezone": TIMEZONES}

# What each column of the template holds; whether it must be filled is the import's own
# rule (REQUIRED), so the guide cannot say otherwise.
HELP: dict[str, dict[str, str]] = {
    "units": {
        "code": "Kode unit kerja, unik (mis. BPS-3404, DINSOS-SULSEL). Tanpa "
                "spasi di awal/akhir.",
        "name": "Nama unit kerja / OPD / UPT.",
        "parent": "Kode unit induk (harus ada di berkas ini atau sudah "
                  "terdaftar). Kosong = unit teratas.",
        "timezone": "Asia/Jakarta (WIB), Asia/Makassar (WITA) atau "
                    "Asia/Jayapura (WIT). Kosong = Asia/Jakarta.",
    },
    "people": {
        "email": "Alamat email, unik; menjadi identitas orang tersebut.",
        "name": "Nama lengkap dengan gelar.",
        "unit": "Kode unit kerja orang tersebut.",
        "role": "planner (perencana/admin), owner (penanggung jawab), "
                "leader (pimpinan); beberapa peran digabung dengan titik koma, mis. planner;owner. "
                "Kosong = owner.",
        "supervisor": "Email atasan langsung (menerima eskalasi). "
                      "Tidak boleh melingkar.",
    },
    "recommendations": {
        "ref": "Nomor rekomendasi yang tetap dan unik. Mengimpor "
               "ulang ref yang sama memperbarui data, tidak menggandakan.",
        "forum": "Judul forum (FKP). Forum dikenali dari judul dan "
                 "tanggalnya.",
        "forum_date": "Tanggal forum: sel tanggal Excel, YYYY-MM-DD "
                      "atau DD/MM/YYYY (hari dulu, lalu bulan).",
        "unit": "Kode unit penanggung jawab. Kosong = unit "
                "dari penanggung jawab.",
        "text": "Isi rekomendasi sebagaimana tercantum dalam Berita "
                "Acara.",
        "category": "Salah satu dari 16 kode komponen "
                    "standar pelayanan (lihat daftar pilihan). Kosong = lainnya.",
        "owner": "Email penanggung jawab; unitnya harus sama dengan "
                 "unit rekomendasi, atau di atas/di bawahnya.",
        "deadline": "Batas waktu: tanggal (seperti forum_date) atau "
                    "+N hk = N hari kerja setelah tanggal forum (Senin–Jumat, di luar libur "
                    "nasional dan cuti bersama). Tidak boleh sebelum tanggal forum.",
        "priority": "high, normal atau low (tinggi, sedang, "
                    "rendah juga diterima). Kosong = normal.",
        "place": "Tempat forum.",
        "minutes_ref": "Nomor atau tautan Berita Acara.",
    },
}
GUIDE: list[tuple[str, str, str, str]] = [
    (kind, col, "wajib" if col in REQUIRED[kind] else "boleh kosong", text)
    for kind, columns in HELP.items() for col, text in columns.items()
]
NOTES = [
    "Cara mengisi: isi lembar units, people dan recommendations (baris 1 adalah judul kolom, "
    "jangan diubah). Baris contoh boleh diganti atau dihapus.",
    "Impor: tindak import NAMA_BERKAS.xlsx (tambahkan --dry-run untuk memeriksa tanpa "
    "menyimpan).",
    "Semua atau tidak sama sekali: bila ada satu baris yang salah, tidak ada yang disimpan dan "
    "setiap kesalahan ditampilkan sebagai BERKAS[lembar]:BARIS: kolom: alasan.",
    "Tanggal: gunakan sel tanggal Excel, atau tulis YYYY-MM-DD (2026-04-15) atau DD/MM/YYYY "
    "(15/04/2026). Urutan bulan/hari (MM/DD) tidak pernah dipakai.",
    "Keamanan: isi sel tidak boleh diawali =, +, - atau @ (kecuali batas waktu +N hk), dan "
    "tidak boleh berupa rumus. Tulis teks biasa.",
    "Impor ulang memperbarui data yang terdaftar (unit, orang, rekomendasi) tetapi tidak "
    "mengubah status atau kemajuan tindak lanjut.",
    "Berkas CSV juga diterima: simpan tiap lembar sebagai 'CSV UTF-8 (Comma delimited)'.",
]


def write_template(path: Path, overwrite: bool = False) -> Path:
    """Write the workbook; refuses a path that is not .xlsx or exists (unless overwrite)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    if path.suffix.lower() != ".xlsx":
        raise InvalidInput(N_("%(path)s: the template is an Excel workbook: give a name ending "
                              ".xlsx"), path=str(path))
    if path.exists() and not overwrite:
        raise InvalidInput(N_("%(path)s already exists: choose another name or add --force"),
                           path=str(path))
    if not path.parent.exists():
        raise InvalidInput(N_("%(path)s does not exist"), path=str(path.parent))

    wb = Workbook()
    guide = wb.active
    guide.title = "petunjuk"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")

    lists = wb.create_sheet("lists")
    refs: dict[str, str] = {}
    for i, (name, values) in enumerate(LISTS.items(), 1):
        letter = get_column_letter(i)
        lists.cell(row=1, column=i, value=name).font = bold
        for j, value in enumerate(values, 2):
            lists.cell(row=j, column=i, value=value)
        refs[name] = f"lists!${letter}$2:${letter}${len(values) + 1}"  # no "=" in the XML
    lists.sheet_state = "hidden"

    for kind in TEMPLATE_KINDS:
        columns = COLUMNS[kind]
        ws = wb.create_sheet(kind, index=wb.index(lists))
        ws.append(list(columns))
        ws.append(EXAMPLES[kind])
        for i, col in enumerate(columns, 1):
            letter = get_column_letter(i)
            cell = ws.cell(row=1, column=i)
            cell.font, cell.fill = bold, head_fill
            ws.column_dimensions[letter].width = WIDTHS.get(col, 16)
            if col in TEXT_COLUMNS:
                for row in range(2, DATA_ROWS + 2):
                    ws.cell(row=row, column=i).number_format = "@"
            if col == "forum_date":
                for row in range(2, DATA_ROWS + 2):
                    ws.cell(row=row, column=i).number_format = "yyyy-mm-dd"
            if col == "text":
                ws.cell(row=2, column=i).alignment = Alignment(wrap_text=True, vertical="top")
            if col in refs:
                dv = DataValidation(type="list", formula1=refs[col], allow_blank=True,
                                    showErrorMessage=True, errorTitle="Pilihan tidak dikenal",
                                    error="Pilih salah satu nilai dari daftar.")
                dv.add(f"{letter}2:{letter}{DATA_ROWS + 1}")
                ws.add_data_validation(dv)
        ws.freeze_panes = "A2"

    guide.append(["Petunjuk pengisian berkas impor Tindak"])
    guide["A1"].font = Font(bold=True, size=14)
    guide.append([])
    for note in NOTES:
        guide.append([note])
    guide.append([])
    guide.append(["Lembar", "Kolom", "Wajib?", "Keterangan"])
    for cell in guide[guide.max_row]:
        cell.font, cell.fill = bold, head_fill
    for guide_row in GUIDE:
        guide.append(list(guide_row))
        guide.cell(row=guide.max_row, column=4).alignment = Alignment(wrap_text=True)
    for letter, width in zip("ABCD", (18, 14, 14, 100), strict=True):
        guide.column_dimensions[letter].width = width
    wb.save(path)
    return path
