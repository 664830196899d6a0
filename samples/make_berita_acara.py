"""Write sample Berita Acara (.docx) from the sample forums, as offices write them.

    python samples/make_berita_acara.py            # writes samples/berita-acara-*.docx

Each document has the usual heading in capitals, the number, an opening paragraph that
writes the date in words, the recommendations table (No · Masukan/Usulan · Rencana Tindak
Lanjut · Target Waktu · Penanggung Jawab, with the column numbers under the header and a
Penanggung Jawab merged over consecutive rows), times in words ("Triwulan IV 2026",
"60 hari kerja", "Akhir Januari 2027") and a signature table.
"""

from __future__ import annotations

import calendar
import csv
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from docx import Document  # noqa: E402
from docx.enum.text import WD_ALIGN_PARAGRAPH  # noqa: E402
from docx.shared import Pt  # noqa: E402

from tindak.timeexpr import MONTH_NAMES, date_in_words  # noqa: E402

FORUMS = {  # forum title → file name
    "Forum Konsultasi Publik Dinas Sosial Provinsi Sulawesi Selatan 2026":
        "berita-acara-dinsos-sulsel-2026.docx",
    "Forum Konsultasi Publik RSUD Kota Jayapura 2026": "berita-acara-rsud-jayapura-2026.docx",
}
PLANS = {
    "persyaratan": "Meninjau ulang dan menyederhanakan persyaratan layanan",
    "prosedur": "Menyusun dan menetapkan SOP yang baru, lalu menyosialisasikannya",
    "jangka_waktu": "Menetapkan dan mengumumkan jangka waktu layanan",
    "sarana": "Menganggarkan dan menyediakan sarana dan prasarana",
    "pengaduan": "Membuka kanal pengaduan daring dan luring beserta SOP-nya",
    "kompetensi": "Menyelenggarakan pelatihan bagi petugas layanan",
    "perilaku": "Menetapkan maklumat dan kode etik pelayanan",
}


def read(name: str) -> list[dict[str, str]]:
    with open(HERE / name, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def as_day(text: str) -> date:
    if "/" in text:
        d, m, y = text.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(text)


def written(deadline: str) -> str:
    """A deadline as an office writes it."""
    if deadline.startswith("+"):
        return f"{deadline[1:].split()[0]} hari kerja"
    day = as_day(deadline)
    last = calendar.monthrange(day.year, day.month)[1]
    if day.day == last and day.month in (3, 6, 9, 12):
        return f"Triwulan {('I', 'II', 'III', 'IV')[day.month // 3 - 1]} {day.year}"
    if day.day == last:
        return f"Akhir {MONTH_NAMES[day.month - 1]} {day.year}"
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def write(title: str, out: Path) -> None:
    units = {u["code"]: u for u in read("units.csv")}
    people = {p["email"]: p for p in read("people.csv")}
    recs = [r for r in read("recommendations.csv") if r["forum"] == title]
    first = recs[0]
    held = as_day(first["forum_date"])
    organiser = units[first["unit"]]
    while organiser["parent"] and units[organiser["parent"]]["parent"]:
        organiser = units[organiser["parent"]]

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name, style.font.size = "Arial", Pt(11)
    for line in ("BERITA ACARA", title.upper()):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run(line).bold = True
    p = doc.add_paragraph(f"Nomor: {first['minutes_ref']}")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(
        f"Pada hari ini {date_in_words(held)}, bertempat di {first['place']}, telah "
        f"dilaksanakan Forum Konsultasi Publik yang diselenggarakan oleh {organiser['name']}, "
        "dihadiri oleh perwakilan pengguna layanan, tokoh masyarakat, akademisi, media dan "
        "Ombudsman RI Perwakilan. Forum menyepakati masukan dan rencana tindak lanjut "
        "sebagai berikut:")

    heads = ("No", "Masukan/Usulan", "Rencana Tindak Lanjut", "Target Waktu",
             "Penanggung Jawab")
    table = doc.add_table(rows=2, cols=len(heads))
    table.style = "Table Grid"
    for j, head in enumerate(heads):
        table.cell(0, j).text = head
        table.cell(0, j).paragraphs[0].runs[0].bold = True
        table.cell(1, j).text = f"({j + 1})"
    previous, start = None, 0
    for i, r in enumerate(recs, start=1):
        cells = table.add_row().cells
        person = people[r["owner"]]
        unit = units[r["unit"]]
        heads_unit = "leader" in person["role"] and person["unit"] == r["unit"]
        owner = unit["name"] if heads_unit else person["name"]
        cells[0].text = f"{i}."
        cells[1].text = r["text"]
        cells[2].text = PLANS.get(r["category"], "Menindaklanjuti sesuai kewenangan")
        cells[3].text = written(r["deadline"])
        row = len(table.rows) - 1
        if owner == previous:  # offices merge a Penanggung Jawab over consecutive rows
            table.cell(start, 4).merge(table.cell(row, 4))
        else:
            cells[4].text = owner
            previous, start = owner, row

    doc.add_paragraph("Demikian Berita Acara ini dibuat untuk dipergunakan sebagaimana "
                      "mestinya.")
    sign = doc.add_table(rows=3, cols=2)
    sign.cell(0, 0).text = "Pimpinan Forum"
    sign.cell(0, 1).text = "Wakil Peserta"
    sign.cell(2, 0).text = people[next(e for e, p in people.items()
                                       if p["unit"] == organiser["code"]
                                       and "leader" in p["role"])]["name"]
    sign.cell(2, 1).text = "Perwakilan Ombudsman RI"
    doc.core_properties.title = title
    doc.save(str(out))


def main() -> None:
    for title, name in FORUMS.items():
        write(title, HERE / name)
        print(f"wrote samples/{name}")


if __name__ == "__main__":
    main()
