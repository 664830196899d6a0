"""Generate a realistic national data set for Tindak as import files.

    python bench/generate.py OUT --recs 100000 --people 10000 --units 2000 --seed 1 \
        --around 2026-11-25

Writes OUT/units.csv, OUT/people.csv and OUT/recommendations.csv (the import format), plus
OUT/statuses.tsv (ref, status, progress: the follow-up state a long-running office would
have, which the import itself never sets; bench_import.py applies it). Units form trees
province → regency/city → agency across WIB, WITA and WIT; each unit has a leader, owners
report to the nearest leader above them, leaders to the leader of the parent unit. Rows
are streamed to disk, so a million recommendations need little memory.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

PROVINCES = [
    ("11", "Aceh", "Asia/Jakarta"), ("12", "Sumatera Utara", "Asia/Jakarta"),
    ("13", "Sumatera Barat", "Asia/Jakarta"), ("14", "Riau", "Asia/Jakarta"),
    ("15", "Jambi", "Asia/Jakarta"), ("16", "Sumatera Selatan", "Asia/Jakarta"),
    ("17", "Bengkulu", "Asia/Jakarta"), ("18", "Lampung", "Asia/Jakarta"),
    ("19", "Kepulauan Bangka Belitung", "Asia/Jakarta"), ("21", "Kepulauan Riau", "Asia/Jakarta"),
    ("31", "DKI Jakarta", "Asia/Jakarta"), ("32", "Jawa Barat", "Asia/Jakarta"),
    ("33", "Jawa Tengah", "Asia/Jakarta"), ("34", "DI Yogyakarta", "Asia/Jakarta"),
    ("35", "Jawa Timur", "Asia/Jakarta"), ("36", "Banten", "Asia/Jakarta"),
    ("51", "Bali", "Asia/Makassar"), ("52", "Nusa Tenggara Barat", "Asia/Makassar"),
    ("53", "Nusa Tenggara Timur", "Asia/Makassar"), ("61", "Kalimantan Barat", "Asia/Jakarta"),
    ("62", "Kalimantan Tengah", "Asia/Jakarta"), ("63", "Kalimantan Selatan", "Asia/Makassar"),
    ("64", "Kalimantan Timur", "Asia/Makassar"), ("65", "Kalimantan Utara", "Asia/Makassar"),
    ("71", "Sulawesi Utara", "Asia/Makassar"), ("72", "Sulawesi Tengah", "Asia/Makassar"),
    ("73", "Sulawesi Selatan", "Asia/Makassar"), ("74", "Sulawesi Tenggara", "Asia/Makassar"),
    ("75", "Gorontalo", "Asia/Makassar"), ("76", "Sulawesi Barat", "Asia/Makassar"),
    ("81", "Maluku", "Asia/Jayapura"), ("82", "Maluku Utara", "Asia/Jayapura"),
    ("91", "Papua Barat", "Asia/Jayapura"), ("92", "Papua Barat Daya", "Asia/Jayapura"),
    ("94", "Papua", "Asia/Jayapura"), ("95", "Papua Selatan", "Asia/Jayapura"),
    ("96", "Papua Tengah", "Asia/Jayapura"), ("97", "Papua Pegunungan", "Asia/Jayapura"),
]
AGENCIES = [
    ("DINSOS", "Dinas Sosial"), ("DINKES", "Dinas Kesehatan"), ("DISDIK", "Dinas Pendidikan"),
    ("DUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"), ("DPMPTSP", "Dinas Penanaman "
     "Modal dan Pelayanan Terpadu Satu Pintu"), ("RSUD", "Rumah Sakit Umum Daerah"),
    ("SETDA", "Sekretariat Daerah"), ("BPS", "Badan Pusat Statistik"),
    ("DISHUB", "Dinas Perhubungan"), ("DPPKB", "Dinas Pengendalian Penduduk dan Keluarga "
     "Berencana"), ("DLH", "Dinas Lingkungan Hidup"), ("DISNAKER", "Dinas Tenaga Kerja"),
]
FIRST = ["Agus", "Budi", "Dewi", "Sri", "Rina", "Andi", "Nur", "Made", "Wayan", "Putu", "Siti",
         "Yohanes", "Maria", "Rudi", "Eka", "Dian", "Fajar", "Indah", "Hendra", "Lestari",
         "Ratna", "Bambang", "Yusuf", "Fitri", "Samuel", "Ketut", "Ayu", "Rahmat", "Wulan"]
LAST = ["Setiawan", "Wulandari", "Pratama", "Lestari", "Hidayat", "Saputra", "Rahmawati",
        "Nugraha", "Sitompul", "Siregar", "Kogoya", "Rumbiak", "Suardana", "Syamsuddin",
        "Kartikasari", "Purnomo", "Hasibuan", "Manurung", "Tanjung", "Wibowo", "Susanto"]
CATEGORIES = ("persyaratan", "prosedur", "jangka_waktu", "biaya", "produk", "pengaduan",
              "dasar_hukum", "sarana", "kompetensi", "pengawasan", "jumlah_pelaksana",
              "jaminan_pelayanan", "jaminan_keamanan", "evaluasi_kinerja", "perilaku", "lainnya")
VERBS = ["Menyusun", "Memperbarui", "Mempublikasikan", "Menyederhanakan", "Menetapkan",
         "Meningkatkan", "Menyediakan", "Mengevaluasi", "Memperluas", "Melatih petugas untuk"]
OBJECTS = ["SOP penanganan pengaduan", "standar pelayanan", "alur dan persyaratan layanan",
           "maklumat pelayanan", "sarana bagi penyandang disabilitas", "antrean daring",
           "survei kepuasan masyarakat", "informasi biaya dan tarif layanan",
           "kanal pengaduan SP4N-LAPOR!", "jadwal pelayanan keliling", "ruang tunggu"]
QUALIFIERS = ["agar mudah dipahami masyarakat", "di seluruh unit layanan",
              "dan mengumumkannya di laman resmi", "bersama pemangku kepentingan",
              "sesuai masukan forum konsultasi publik", "dengan melibatkan Ombudsman RI",
              "secara berkala setiap triwulan", "bagi kelompok rentan"]
STATUSES = (("open", 45), ("in_progress", 35), ("awaiting_verification", 7),
            ("completed", 10), ("not_actionable", 3))


def build_units(n: int, rng: random.Random) -> list[tuple[str, str, str, str, int]]:
    """(code, name, parent, timezone, level): 1 provinces, 2 regencies and cities, 3 agencies."""
    provinces = PROVINCES[: max(1, min(len(PROVINCES), n // 20 or 1))]
    units = [(f"P{c}", f"Pemerintah Provinsi {name}", "", tz, 1) for c, name, tz in provinces]
    rest = n - len(units)
    n_reg = max(0, min(rest, rest // 8))
    regencies = []
    for i in range(n_reg):
        pcode, pname, tz = provinces[i % len(provinces)]
        no = i // len(provinces) + 1
        kind = "Kota" if i % 5 == 4 else "Kabupaten"
        regencies.append((f"P{pcode}-K{no:02d}", f"Pemerintah {kind} {pname} {no}", f"P{pcode}",
                          tz, 2))
    units += regencies
    parents = regencies or units[: len(provinces)]
    for i in range(n - len(units)):
        par = parents[i % len(parents)]
        short, long = AGENCIES[(i // len(parents)) % len(AGENCIES)]
        units.append((f"{par[0]}-{short}{i // (len(parents) * len(AGENCIES)) or ''}",
                      f"{long} {par[1].removeprefix('Pemerintah ')}", par[0], par[3], 3))
    rng.shuffle(units)  # parents need not come first: the import sorts that out
    return units


def build_people(units: list[tuple[str, str, str, str, int]], n: int, rng: random.Random,
                 ) -> tuple[list[tuple[str, str, str, str, str]], dict[str, list[str]]]:
    """People rows and unit code → owner emails."""
    parent = {u[0]: u[2] for u in units}
    by_level = sorted(units, key=lambda u: u[4])
    n_leaders = min(len(units), max(1, n // 5))
    leader: dict[str, str] = {}
    rows: list[tuple[str, str, str, str, str]] = []
    seq = 0

    def person(unit: str) -> tuple[str, str]:
        nonlocal seq
        seq += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = unit.split("-")[0].lower()
        return f"{first}.{last}.{seq}@{domain}.example.go.id".lower(), f"{first} {last}"

    def above(unit: str) -> str:
        node = parent.get(unit) or ""
        while node and node not in leader:
            node = parent.get(node) or ""
        return leader.get(node, "")

    for u in by_level[:n_leaders]:
        email, name = person(u[0])
        leader[u[0]] = email
        rows.append((email, name, u[0], "leader" if u[4] > 1 else "leader;planner", above(u[0])))
    owners: dict[str, list[str]] = {}
    agencies = [u for u in units if u[4] == 3] or units
    for i in range(n - n_leaders):
        u = agencies[i % len(agencies)]
        email, name = person(u[0])
        roles = "planner;owner" if i % 25 == 0 else "owner"
        sup = leader.get(u[0]) or above(u[0])
        rows.append((email, name, u[0], roles, sup))
        owners.setdefault(u[0], []).append(email)
    if not owners:  # fewer people than units: leaders own items too
        for email, _, unit, _, _ in rows:
            owners.setdefault(unit, []).append(email)
    return rows, owners


def generate(out: Path, recs: int, people: int, units: int, seed: int, around: date) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    unit_rows = build_units(units, rng)
    with (out / "units.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("code", "name", "parent", "timezone"))
        w.writerows(u[:4] for u in unit_rows)
    people_rows, owners = build_people(unit_rows, people, rng)
    with (out / "people.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("email", "name", "unit", "role", "supervisor"))
        w.writerows(people_rows)
    owner_units = list(owners)
    status_names = [s for s, _ in STATUSES]
    status_weights = [w for _, w in STATUSES]
    statuses = rng.choices(status_names, status_weights, k=recs)
    with (out / "recommendations.csv").open("w", newline="", encoding="utf-8") as f, \
            (out / "statuses.tsv").open("w", encoding="utf-8") as sf:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("ref", "forum", "forum_date", "unit", "text", "category", "owner",
                    "deadline", "priority", "place", "minutes_ref"))
        sf.write("ref\tstatus\tprogress\n")
        i = 0
        forum_no = 0
        rand, choice = rng.random, rng.choice
        while i < recs:
            forum_no += 1
            unit = choice(owner_units)
            held = around - timedelta(days=rng.randint(7, 330))
            while held.weekday() >= 5:
                held -= timedelta(days=1)
            held_text = held.strftime("%d/%m/%Y") if rand() < 0.05 else held.isoformat()
            title = f"Forum Konsultasi Publik {unit} #{forum_no}"
            place = f"Aula {unit}"
            ba = f"BA-{forum_no:06d}/FKP/{held.year}"
            pool = owners[unit]
            for _ in range(min(recs - i, rng.randint(3, 12))):
                i += 1
                ref = f"R{i:07d}"
                if rand() < 0.1:
                    deadline = f"+{rng.randint(5, 90)} hk"
                else:
                    deadline = (held + timedelta(days=rng.randint(14, 200))).isoformat()
                text = (f"{choice(VERBS)} {choice(OBJECTS)} {choice(QUALIFIERS)}.")
                prio = "high" if rand() < 0.2 else ("low" if rand() < 0.2 else "normal")
                w.writerow((ref, title, held_text, unit, text, choice(CATEGORIES), choice(pool),
                            deadline, prio, place, ba))
                status = statuses[i - 1]
                progress = {"open": 0, "completed": 100, "awaiting_verification": 100}.get(
                    status, rng.randint(5, 95) if status == "in_progress" else 0)
                sf.write(f"{ref}\t{status}\t{progress}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the CSV files into")
    ap.add_argument("--recs", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--around", type=date.fromisoformat, default=date(2026, 11, 25),
                    help="deadlines are spread around this date (YYYY-MM-DD)")
    args = ap.parse_args(argv)
    if args.units < 1 or args.people < 1 or args.recs < 0:
        ap.error("--units and --people must be at least 1, --recs at least 0")
    generate(args.out, args.recs, args.people, args.units, args.seed, args.around)
    return 0


if __name__ == "__main__":
    sys.exit(main())
