#!/usr/bin/env python3
"""Generate trafico's synthetic sample data (docs/architecture.md §3) into ``data/``, deterministically.

Made-up clients, drivers and containers, written in the *live* formats the loader and the
rules must survive: mixed date formats (``dd/mm`` without year, ``dd/mm/yyyy``,
``yyyy-mm-dd``, ``dd-mm-yy hh:mm``), times like ``0700 `` and ``8:00 ``, numbers like
``1429.0`` and ``1.429,5``, placeholders (``-``, empty, ``nan``, ``  : 0   ``), trailing
blanks, containers as ``ABCU-123456-7`` / ``abcu 123456 7`` / ``ABCU1234567`` / ``-``, one
cp1252 file with ``;``, one UTF-8 file with a BOM, the rest UTF-8 with ``,``.

Container numbers carry valid ISO 6346 check digits, except :data:`DELIBERATE_TYPOS`.
Same seed, same bytes: run it twice and ``git diff`` shows nothing.

Usage: ``python scripts/make_sample_data.py [--out DIR]`` (default: ``data/`` of the repo).
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import string
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

SEED = 20261123
WEEK = [date(2026, 11, 23) + timedelta(days=i) for i in range(7)]  # Mon 23 .. Sun 29 Nov 2026
ROOT = Path(__file__).resolve().parent.parent

# Column lists, exactly as trafico_lib.tables (kept literal so the script needs no install).
COLUMNS = {
    "arribos": ["Fecha", "Terminal", "Turno", "Contenedor", "Cliente", "Booking", "TLAT",
                "Tipo CNT", "Dimension", "Oper.", "Tiempo", "Estado", "Peso", "Peligrosa",
                "Chofer"],
    "pendiente_desconsolidar": ["Contenedor", "Cliente", "Entrega", "Vto. Vacio", "Tipo", "Peso",
                                "Cantidad", "Envase", "Estado", "Chofer"],
    "remisiones": ["Dia", "Cliente", "Operacion", "Booking", "Contenedor", "Volumen", "Precinto",
                   "Observaciones", "Estado", "Hora", "e-tally", "Chofer"],
    "arribos_expo_ctns": ["Fecha", "Booking", "Cliente", "Cantidad", "Dimension", "Tipo",
                          "Contenedor", "Precinto", "Origen", "Obs.", "Estado", "Peligrosa",
                          "Chofer"],
    "availability": ["Booking", "Contenedor", "Fecha", "Dimension", "Tipo"],
    "salidas": ["orden_ing", "suborden", "renglon", "contenedor", "validada", "usuario",
                "observacion"],
}


@dataclass(frozen=True)
class FileFormat:
    """How one export is written: name, encoding, separator, line ending."""
    name: str
    encoding: str = "utf-8"
    sep: str = ","
    newline: str = "\n"


FILES = {
    "arribos": FileFormat("arribos_semana.csv"),
    "pendiente_desconsolidar": FileFormat("pendiente_desconsolidar.csv", "cp1252", ";", "\r\n"),
    "remisiones": FileFormat("remisiones_semana.csv", "utf-8-sig"),
    "arribos_expo_ctns": FileFormat("arribos_expo_ctns.csv"),
    "availability": FileFormat("arribos_expo_semana_ctns.csv"),
    "salidas": FileFormat("salidas.csv"),
}

# ---- made-up names -----------------------------------------------------------------------
CLIENTS = [
    "Quebracho Azul SRL", "Vientos del Sur Comercio SA", "Ferretera Yacaré SA",
    "Distribuidora Ombú SRL", "Cerámicas Tala SA", "Papelera Ceibo Ficticia SA",
    "Maderas Lapacho SA", "Textil Aguaribay SRL", "Electro Hornero SA", "Vinos Cerro Bayo SRL",
]
ACCENTED_CLIENTS = [  # all encodable in cp1252
    "Logística Río SA", "Importadora Ñandú SRL", "Comercial Güemes Ficticia SA",
    "Frigorífico Ñandubay SA", "Lanera Patagónica SRL", "Química Paraná Sur SA",
]
DRIVERS = ["Carlos Gómez", "Raúl Benítez", "Marta Sosa", "Diego Acuña", "Hugo Ledesma",
           "Sergio Paz"]
OWNERS = ["TRFU", "DPFU", "BAHU", "RIPU", "SURU", "PLAU", "ANDU", "PMPU", "MSCU", "MSKU"]
TERMINALS = ["Terminal Norte", "Terminal Sur ", "Dársena B", "Muelle 5"]
USERS = ["jgarcia", "mlopez", "operador2", "aruiz"]

# Containers written with a wrong check digit on purpose (filled in by generate()).
DELIBERATE_TYPOS: list[str] = []

# ---- ISO 6346 ------------------------------------------------------------------------------


def _letter_values() -> dict[str, int]:
    """A=10, B=12, ... Z=38: consecutive values skipping multiples of 11."""
    values, v = {}, 10
    for ch in string.ascii_uppercase:
        if v % 11 == 0:
            v += 1
        values[ch] = v
        v += 1
    return values


_VALUES = _letter_values()


def check_digit(first10: str) -> int:
    """ISO 6346 check digit of owner code + category + serial (``ABCU123456``)."""
    total = sum((_VALUES[c] if c.isalpha() else int(c)) * 2 ** i
                for i, c in enumerate(first10.upper()))
    return total % 11 % 10


def is_valid_container(code: str) -> bool:
    """True for an 11-character normalized container whose check digit is right."""
    return (len(code) == 11 and code[:4].isalpha() and code[4:].isdigit()
            and check_digit(code[:10]) == int(code[10]))


class ContainerPool:
    """Hands out unique, valid container numbers."""

    def __init__(self, rng: random.Random):
        self.rng, self.used = rng, set()

    def new(self) -> str:
        while True:
            head = self.rng.choice(OWNERS) + f"{self.rng.randrange(100000, 1000000)}"
            code = head + str(check_digit(head))
            if code not in self.used:
                self.used.add(code)
                return code

    def typo(self) -> str:
        """A container with a wrong check digit (a deliberate typing error)."""
        good = self.new()
        bad = good[:10] + str((int(good[10]) + self.rng.randrange(1, 10)) % 10)
        DELIBERATE_TYPOS.append(bad)
        return bad


# ---- live-format writers -------------------------------------------------------------------


def fmt_container(code: str, style: str) -> str:
    """A normalized container written the way an export has it."""
    return {
        "plain": code,
        "dashed": f"{code[:4]}-{code[4:10]}-{code[10]}",
        "spaced_lower": f"{code[:4].lower()} {code[4:10]} {code[10]}",
        "spaced": f"{code[:4]} {code[4:10]} {code[10]}",
        "trailing": code + " ",
    }[style]


def pick_container_style(rng: random.Random) -> str:
    return rng.choices(["plain", "dashed", "spaced_lower", "spaced", "trailing"],
                       weights=[60, 14, 10, 6, 10])[0]


def fmt_date(d: date, style: str, t: time | None = None) -> str:
    """``ddmm`` 24/11, ``dmy`` 24/11/2026, ``iso`` 2026-11-24, ``dmyhm`` 24-11-26 07:30."""
    if style == "ddmm":
        return d.strftime("%d/%m")
    if style == "dmy":
        return d.strftime("%d/%m/%Y")
    if style == "iso":
        return d.isoformat()
    t = t or time(7, 30)
    return d.strftime("%d-%m-%y") + " " + t.strftime("%H:%M")


def pick_date_style(rng: random.Random) -> str:
    return rng.choices(["ddmm", "dmy", "iso", "dmyhm"], weights=[35, 30, 20, 15])[0]


def fmt_time(t: time, style: str) -> str:
    """``hhmm_`` 0700 (blank), ``h:mm_`` 8:00 (blank), ``hh:mm`` 14:30, ``hhmm`` 0930."""
    if style == "hhmm_":
        return t.strftime("%H%M") + " "
    if style == "h:mm_":
        return f"{t.hour}:{t.minute:02d} "
    if style == "hh:mm":
        return t.strftime("%H:%M")
    return t.strftime("%H%M")


def pick_time(rng: random.Random) -> time:
    return time(rng.randrange(6, 19), rng.choice([0, 0, 15, 30, 45]))


def pick_time_style(rng: random.Random) -> str:
    return rng.choices(["hhmm_", "h:mm_", "hh:mm", "hhmm"], weights=[30, 25, 35, 10])[0]


def fmt_number(x: float, style: str) -> str:
    """``float`` 1429.0 / 1429.5, ``comma`` 1.429,5 (thousands dot, decimal comma), ``int``."""
    if style == "float":
        return repr(float(x))
    if style == "comma":
        return f"{x:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return str(int(round(x)))


def placeholder(rng: random.Random) -> str:
    return rng.choice(["-", "", "nan"])


def maybe_driver(rng: random.Random, share: float = 0.15) -> str:
    return rng.choice(DRIVERS) if rng.random() < share else ""


def trail(rng: random.Random, value: str, share: float = 0.2) -> str:
    """Sometimes add the trailing blanks live exports are full of."""
    return value + " " * rng.choice([1, 2]) if value and rng.random() < share else value


# ---- tables --------------------------------------------------------------------------------


def make_arribos(rng: random.Random, pool: ContainerPool, n: int = 156) -> tuple[list[list[str]], list[str]]:
    """Import arrivals of the week; returns the rows and the normalized containers used."""
    rows, codes = [], []
    for i in range(n):
        code = pool.typo() if i in (17, 101) else pool.new()
        codes.append(code)
        d = rng.choice(WEEK[:6])
        style = pick_date_style(rng)
        peso_style = rng.choices(["float", "comma", "int", "ph"], weights=[40, 25, 20, 15])[0]
        peso = rng.randrange(3000, 56000) / 2
        rows.append([
            fmt_date(d, style, pick_time(rng)),
            rng.choice(TERMINALS),
            fmt_time(pick_time(rng), pick_time_style(rng)) if rng.random() < 0.85 else "",
            fmt_container(code, pick_container_style(rng)),
            trail(rng, rng.choice(CLIENTS + ACCENTED_CLIENTS[:2])),
            f"HBL26{rng.randrange(100000, 999999)}" if rng.random() < 0.25 else rng.choice(["-", ""]),
            rng.choice(["SI", "NO", "NO", "-", ""]),
            rng.choice(["DRY", "HC", "RF", "OT", "DRY "]),
            rng.choice(["20", "40", "40 "]),
            rng.choice(["IMPO", "IMPO", "IMPO", "TRANSB", "DEV VACIO"]),
            rng.choice(["  : 0   ", "  : 0   ", "1:15", "0:45", "2:30", "", "-"]),
            rng.choice(["Pendiente", "Pendiente", "En terminal", "Asignado", "-", "",
                        "09:50 Realizado"]),
            placeholder(rng) if peso_style == "ph" else fmt_number(peso, peso_style),
            rng.choice(["NO", "NO", "NO", "SI", "", "nan"]),
            maybe_driver(rng),
        ])
    # anchors: every quirk at least once, whatever the dice said
    rows[0][0], rows[1][0] = fmt_date(WEEK[0], "ddmm"), fmt_date(WEEK[0], "dmyhm", time(7, 30))
    rows[2][0], rows[3][0] = fmt_date(WEEK[1], "dmy"), fmt_date(WEEK[1], "iso")
    rows[0][2], rows[1][2] = "0700 ", "8:00 "
    rows[0][12], rows[1][12], rows[2][12], rows[3][12] = "1429.0", "1.429,5", "nan", "-"
    rows[0][10] = "  : 0   "
    rows[2][3] = fmt_container(codes[2], "dashed")
    rows[3][3] = fmt_container(codes[3], "spaced_lower")
    rows[4][3] = fmt_container(codes[4], "plain")
    # duplicate keys: the later row wins (one written in another format, one identical)
    for src, style, estado, turno in ((10, "dashed", "En camino", "1100 "),
                                      (40, "plain", "Asignado", "9:30 ")):
        dup = list(rows[src])
        dup[3], dup[11], dup[2] = fmt_container(codes[src], style), estado, turno
        rows.append(dup)
    # one row with an empty container: rejected by the blocking key rule
    empty = list(rows[20])
    empty[3], empty[4] = "", "Vientos del Sur Comercio SA"
    rows.insert(120, empty)
    return rows, codes


def make_pendiente(rng: random.Random, pool: ContainerPool, arribos: list[str],
                   n: int = 36) -> tuple[list[list[str]], list[str]]:
    """Containers waiting to be unstuffed; a few arrived earlier this week (in arribos)."""
    rows, codes = [], []
    from_arribos = rng.sample(arribos[5:100], 6)
    for i in range(n):
        if i < len(from_arribos):
            code = from_arribos[i]
        else:
            code = pool.typo() if i == 23 else pool.new()
        codes.append(code)
        entrega = rng.choice(WEEK)
        vto = entrega + timedelta(days=rng.randrange(3, 20))
        peso = rng.randrange(2000, 50000) / 2
        rows.append([
            fmt_container(code, pick_container_style(rng)),
            trail(rng, rng.choice(ACCENTED_CLIENTS + CLIENTS[:3])),
            fmt_date(entrega, pick_date_style(rng)) if rng.random() < 0.85 else "-",
            fmt_date(vto, rng.choice(["ddmm", "ddmm", "dmy"])),
            rng.choice(["40HC", "20DV", "40DV", "40RF "]),
            fmt_number(peso, rng.choice(["comma", "comma", "float"])) if rng.random() < 0.9
            else placeholder(rng),
            rng.choice([str(rng.randrange(5, 400)), str(rng.randrange(5, 400)), "12.0", "-", ""]),
            rng.choice(["Pallets", "Cajas", "Bultos", "Tambores", "Bolsas "]),
            rng.choice(["Pendiente", "Pendiente", "Turno 26/11 ", "Desconsolidando", "-", ""]),
            maybe_driver(rng, 0.1),
        ])
    rows[0][1], rows[1][1] = "Logística Río SA", "Importadora Ñandú SRL "
    rows[0][5] = "1.429,5"
    rows[2][3] = "05/01"  # a dd/mm that belongs to next year (nearest the run date)
    rows[3][2] = "  : 0   "
    return rows, codes


def make_remisiones(rng: random.Random, pool: ContainerPool,
                    n: int = 64) -> list[list[str]]:
    """Dispatch appointments; ``Operacion`` is orden_ing-suborden-renglon."""
    rows = []
    observaciones = ["", "", "-", "nan", "Entregar por portón 2", "Cliente retira, llamar antes",
                     "Carga frágil", "Precinto a verificar"]
    for operacion in operaciones(rng, n):
        has_ctn = rng.random() < 0.5
        code = pool.new() if has_ctn else None
        d = rng.choice(WEEK[:6])
        vol = rng.randrange(40, 1400) / 10 if rng.random() < 0.9 else rng.randrange(10000, 20000) / 10
        rows.append([
            fmt_date(d, pick_date_style(rng), pick_time(rng)),
            trail(rng, rng.choice(CLIENTS + ACCENTED_CLIENTS)),
            trail(rng, operacion, 0.1),
            rng.choice(["-", "", f"BKG26{rng.randrange(10000, 99999)}",
                        f"bkg 26{rng.randrange(10000, 99999)}"]),
            fmt_container(code, pick_container_style(rng)) if code else rng.choice(["-", "", "-"]),
            fmt_number(vol, rng.choice(["float", "comma", "float"])) if rng.random() < 0.92
            else placeholder(rng),
            f"AR{rng.randrange(100000, 999999)}" if code else rng.choice(["-", ""]),
            rng.choice(observaciones),
            rng.choice(["Pendiente", "Pendiente", "Programado", "-", "", "10:15 Realizado"]),
            fmt_time(pick_time(rng), pick_time_style(rng)),
            rng.choice(["SI", "NO", "", "-", f"ET-{rng.randrange(1000, 9999)}"]),
            maybe_driver(rng),
        ])
    rows[1][9], rows[2][9] = "0700 ", "8:00 "
    rows[1][5] = "1.429,5"
    # one operation that moves two different containers (key: Operacion + Contenedor)
    twin = list(rows[5])
    twin[4] = fmt_container(pool.new(), "plain")
    twin[6] = f"AR{rng.randrange(100000, 999999)}"
    if rows[5][4] in ("-", ""):
        rows[5][4] = fmt_container(pool.new(), "dashed")
    rows.insert(6, twin)
    return rows


def operaciones(rng: random.Random, n: int, first: int = 37644) -> list[str]:
    """``n`` distinct ``orden_ing-suborden-renglon`` codes, starting at ``37644-1-1``."""
    out, orden = [], first
    while len(out) < n:
        for sub in range(1, rng.choice([1, 1, 1, 2]) + 1):
            out += [f"{orden}-{sub}-{ren}" for ren in range(1, rng.choice([1, 1, 2, 3]) + 1)]
        orden += rng.randrange(1, 4)
    return out[:n]


@dataclass
class Booking:
    code: str          # canonical: upper-case, no blanks
    client: str
    fecha: date
    dimension: str
    tipo: str
    pending: int       # Cantidad of the row without a container (0: none)
    filled: int        # rows that already carry a container
    arrived: int = 0   # containers in the availability CSV not yet in the source rows


def expo_bookings(rng: random.Random) -> list[Booking]:
    """Export bookings: five pending (Cantidad 2-5, some partly filled), nine complete."""
    bookings = [
        Booking("BKG2611001", CLIENTS[0], WEEK[0], "40", "HC", pending=3, filled=1, arrived=2),
        Booking("BKG2611002", CLIENTS[1], WEEK[0], "20", "DRY", pending=5, filled=2, arrived=1),
        Booking("BKG2611003", CLIENTS[2], WEEK[1], "40", "DRY", pending=2, filled=0, arrived=3),
        Booking("BKG2611004", CLIENTS[3], WEEK[2], "40", "RF", pending=4, filled=1, arrived=0),
        Booking("EXP-2611/05", ACCENTED_CLIENTS[0], WEEK[2], "20", "DRY", pending=2, filled=0,
                arrived=1),
    ]
    for k in range(9):
        bookings.append(Booking(
            f"BKG26{11010 + k}", rng.choice(CLIENTS + ACCENTED_CLIENTS), rng.choice(WEEK[:5]),
            rng.choice(["20", "40"]), rng.choice(["DRY", "HC"]), pending=0,
            filled=rng.randrange(3, 6)))
    return bookings


def written_booking(code: str, variant: str) -> str:
    """The booking as a person typed it: ``lower``, ``blanks`` inside, ``trail``ing blank."""
    if variant == "lower":
        return code.lower()
    if variant == "blanks":
        return code[:3] + " " + code[3:7] + " " + code[7:] if code.startswith("BKG") else code
    if variant == "trail":
        return code + " "
    return code


def make_expo(rng: random.Random, pool: ContainerPool, bookings: list[Booking]
              ) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Empty export containers collected per booking; pending rows carry ``Cantidad`` N."""
    rows, placed = [], {}
    variants = {"BKG2611002": ("lower", "blanks"), "BKG2611003": ("blanks", "blanks"),
                "BKG2611004": ("plain", "trail")}
    typo_at = (bookings[7].code, 1)
    for b in bookings:
        pending_variant, filled_variant = variants.get(b.code, ("plain", "plain"))
        fecha = fmt_date(b.fecha, pick_date_style(rng), time(8, 0))
        placed[b.code] = []
        for j in range(b.filled):
            code = pool.typo() if (b.code, j) == typo_at else pool.new()
            placed[b.code].append(code)
            rows.append([
                fecha, written_booking(b.code, filled_variant), b.client,
                rng.choice(["1", "1", "1", "", "1.0"]), b.dimension, b.tipo,
                fmt_container(code, pick_container_style(rng)),
                f"AR{rng.randrange(100000, 999999)}" if rng.random() < 0.8 else "-",
                rng.choice(["Terminal Norte", "Depósito", "Playa 2", "-"]),
                rng.choice(["", "", "", "Cliente pide urgente", "nan", "-"]),
                rng.choice(["Cargado", "En depósito", "En depósito",
                            f"Realizado {fmt_date(b.fecha + timedelta(days=1), 'dmy')} 11:20"]),
                rng.choice(["NO", "NO", "SI", ""]),
                maybe_driver(rng, 0.2),
            ])
        if b.pending:
            rows.append([
                fecha, written_booking(b.code, pending_variant), b.client, str(b.pending),
                b.dimension, b.tipo, rng.choice(["", "-"]) if b.code != "BKG2611004" else "nan",
                "-", "-", "", "Pendiente", "NO", "",
            ])
    rows[0][9] = "Cliente pide urgente, llamar antes"
    rows[1][6] = "-"  # B1's pending row: the placeholder container at least once
    rng.shuffle(rows)
    return rows, placed


def make_availability(rng: random.Random, pool: ContainerPool, bookings: list[Booking],
                      placed: dict[str, list[str]]) -> tuple[list[list[str]], list[str]]:
    """Containers that arrived this week for export bookings (``arribos_expo_semana_ctns``).

    Some are new for pending bookings (not yet in ``arribos_expo_ctns.csv``), some repeat
    containers already placed, some belong to bookings the depot has no row for.
    """
    rows, codes = [], []

    def add(booking: str, code: str, b: Booking | None, variant: str = "plain") -> None:
        codes.append(code)
        d = rng.choice(WEEK[1:6])
        rows.append([
            written_booking(booking, variant), fmt_container(code, pick_container_style(rng)),
            fmt_date(d, rng.choice(["dmy", "iso", "dmyhm"]), pick_time(rng)),
            b.dimension if b else rng.choice(["20", "40"]), b.tipo if b else "DRY",
        ])

    for b in bookings:
        for k in range(b.arrived):
            add(b.code, pool.new(), b, "lower" if b.code.startswith("EXP") or k == 1 else "plain")
    add(bookings[0].code, placed[bookings[0].code][0], bookings[0])  # already placed
    for b in bookings[6:9]:
        add(b.code, placed[b.code][0], b, "blanks")
    for k in range(3):
        add(f"BKG26{11090 + k}", pool.new(), None)
    rows[0][1] = fmt_container(codes[0], "spaced_lower")
    rng.shuffle(rows)
    return rows, codes


def make_salidas(rng: random.Random, pool: ContainerPool, remisiones: list[list[str]],
                 arribos: list[str],
                 pendiente: list[str], expo_placed: dict[str, list[str]]) -> list[list[str]]:
    """Exit records: some match remisiones by Operacion, some match containers, some nothing."""
    rows = []

    def stamp() -> str:
        d = rng.choice(WEEK[1:6])
        ts = datetime.combine(d, time(rng.randrange(7, 19), rng.randrange(60)))
        return rng.choice([ts.strftime("%d/%m/%Y %H:%M"), ts.strftime("%d/%m/%Y %H:%M"),
                           ts.isoformat(sep=" "), ts.strftime("%Y-%m-%dT%H:%M")])

    def info() -> list[str]:
        return [rng.choice(USERS), rng.choice(["OK", "Validado en puerta", "Precinto verificado",
                                                "", "Sin observaciones"])]

    for r in rng.sample(remisiones, 20):
        orden, sub, ren = r[2].strip().split("-")
        ctn = r[4] if r[4] not in ("", "-") else ""
        rows.append([orden, sub, ren, ctn.strip(), stamp(), *info()])
    expo = [c for cs in expo_placed.values() for c in cs]
    for code in rng.sample(arribos[5:150], 10) + rng.sample(pendiente[6:], 5) + rng.sample(expo, 3):
        rows.append([str(rng.randrange(41000, 42000)), "1", "1",
                     fmt_container(code, rng.choice(["plain", "plain", "dashed", "spaced_lower"])),
                     stamp(), *info()])
    for _ in range(3):  # exits of containers this sample does not know
        rows.append([str(rng.randrange(42000, 43000)), "1", "1", pool.new(), stamp(), *info()])
    rows[0][4] = "28/11/2026 14:32"
    rows[1][4] = "2026-11-27T09:50"
    rng.shuffle(rows)
    return rows


# ---- output --------------------------------------------------------------------------------


def render(fmt: FileFormat, header: list[str], rows: list[list[str]]) -> bytes:
    """CSV bytes in the file's encoding, separator and line ending."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=fmt.sep, lineterminator=fmt.newline, quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(fmt.encoding)


def generate(out_dir: str | Path) -> dict[str, int]:
    """Write every sample file into ``out_dir``; returns {file name: data rows}."""
    DELIBERATE_TYPOS.clear()
    rng = random.Random(SEED)
    pool = ContainerPool(rng)
    arribos, arribos_codes = make_arribos(rng, pool)
    pendiente, pendiente_codes = make_pendiente(rng, pool, arribos_codes)
    remisiones = make_remisiones(rng, pool)
    bookings = expo_bookings(rng)
    expo, placed = make_expo(rng, pool, bookings)
    availability, _ = make_availability(rng, pool, bookings, placed)
    salidas = make_salidas(rng, pool, remisiones, arribos_codes, pendiente_codes, placed)
    tables = {"arribos": arribos, "pendiente_desconsolidar": pendiente, "remisiones": remisiones,
              "arribos_expo_ctns": expo, "availability": availability, "salidas": salidas}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for key, rows in tables.items():
        fmt = FILES[key]
        (out / fmt.name).write_bytes(render(fmt, COLUMNS[key], rows))
        counts[fmt.name] = len(rows)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--out", default=str(ROOT / "data"), help="output folder (default: data/)")
    args = p.parse_args(argv)
    for name, n in generate(args.out).items():
        print(f"{name}: {n} rows")
    print(f"deliberate check-digit typos: {', '.join(DELIBERATE_TYPOS)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
