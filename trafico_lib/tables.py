"""The table registry: every fact about a synced table, declared once.

Source tables hold text in the live formats; target (TráficoV2) tables hold the same
business columns typed, plus the sync metadata columns (see ``schema/targets.py``).
Everything else (normalization, rules, SQL generation, notebooks) reads from here.
"""
from __future__ import annotations

from dataclasses import dataclass

# Column types used by targets. Values are PostgreSQL type names.
TEXT, DATE, TIME, NUMERIC, INTEGER = "text", "date", "time", "numeric", "integer"
# How each type is declared in a target table (``schema/targets.py``): its SQL type, and the
# types that hold quantities, which get ``CHECK (<column> >= 0)``.
SQL_TYPES = {TEXT: "text", DATE: "date", TIME: "time", NUMERIC: "numeric(14,3)", INTEGER: "integer"}
NON_NEGATIVE = frozenset({NUMERIC, INTEGER})
# A date or time a target holds as text (an adopted table), when its column declares no format
# of its own: the old tool's date text and the desk's clock (numbers are plain decimal text).
TEXT_FORMATS = {DATE: "%d/%m/%Y", TIME: "%H:%M"}
# The longest business key (``sync_key``, in characters) a row may have: the key is indexed, and a
# btree entry holds at most about 2,700 bytes (a third of a page); 500 characters take at most
# 2,000 bytes in UTF-8. A longer key is its row's reject (``rules/limits.py``), never the table's run.
MAX_KEY_CHARS = 500


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    # the text a target column of this type holds when the table keeps it as text (a table the
    # old tool made, adopted in place: ``engine/conform.py``): a ``strftime`` format for a date or
    # a time, the one the desk's app and the source use; None: ``TEXT_FORMATS``' for the type
    text_format: str | None = None

    @property
    def as_text(self) -> str | None:
        """The ``strftime`` format of this date or time column's value in a text column."""
        return self.text_format or TEXT_FORMATS.get(self.type)


@dataclass(frozen=True)
class Slots:
    """Slot-based expansion: a source row stands for ``quantity`` pending items of a ``group``
    (or for one, when it names its ``item``); the target holds one row per slot, keyed
    ``group|sequence``. Enrichment fills, never moves, the slots (``enrich/expo.py``)."""
    group: str = "Booking"        # the business key the slots belong to
    sequence: str = "Secuencia"   # the slot number, a target-only column
    quantity: str = "Cantidad"    # how many items a pending source row stands for
    item: str = "Contenedor"      # the item placed into a slot
    priority: str = "Fecha"       # groups are served by their earliest value of this column


@dataclass(frozen=True)
class ExitMatch:
    """How exit records mark a row done: the row's ``column`` against the exit's ``parts``
    (an ``Operacion`` ``orden_ing-suborden-renglon`` splits into its three parts)."""
    column: str
    parts: tuple[str, ...]


MATCH_CONTAINER = ExitMatch("Contenedor", ("contenedor",))
MATCH_OPERATION = ExitMatch("Operacion", ("orden_ing", "suborden", "renglon"))
STATUS_COLUMN = "Estado"   # where a movement's status lives, in every table
DONE_WORD = "Realizado"    # a status holding this word says the movement is done; it never goes back
STATUS_TIME_FIRST = "{fecha_egr:%H:%M} Realizado"          # the live format of remisiones
STATUS_DATE_AFTER = "Realizado {fecha_egr:%d/%m/%Y %H:%M}"  # the live format of the others
STATUS_OLD_TOOL = "Realizado {fecha_egr:%d/%m/%Y %H:%M} {validada}"  # what the old tool wrote (adopted tables)


@dataclass(frozen=True)
class TableSpec:
    name: str                    # short name used on the command line: "arribos"
    source: str                  # operational table: "arribos"
    target: str                  # TráficoV2 table: "traficov2_arribos"
    columns: tuple[Column, ...]  # business columns, in source order
    key: tuple[str, ...]         # business key columns that make the sync_key
    csv_file_key: str            # key under csv_sources.files
    default_csv: str             # default file name of the CSV export
    title: str = ""              # what the table holds, in a few words (the sync notebook's title)
    about: str = ""              # its rows, key and delta strategy, for people (Markdown)
    preserve_fields: tuple[str, ...] = ("Chofer", "Estado")
    key_optional: tuple[str, ...] = ()  # key parts joined only when present
    # traits: what makes a table behave differently, declared here and branched on everywhere
    slots: Slots | None = None          # slot-based expansion (one target row per slot)
    exit_match: ExitMatch = MATCH_CONTAINER
    status_template: str = STATUS_DATE_AFTER
    read_whole: bool = False            # always read the whole source (a partial read would mislead)

    @property
    def extra_target_columns(self) -> tuple[Column, ...]:
        """Target columns the source does not have (the slot number)."""
        return (Column(self.slots.sequence, INTEGER),) if self.slots else ()

    @property
    def account_key(self) -> tuple[str, ...]:
        """What "every source row is in the target" compares: the key, or the slots' group."""
        return (self.slots.group,) if self.slots else self.key

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def target_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extra_target_columns

    @property
    def target_column_names(self) -> list[str]:
        return [c.name for c in self.target_columns]

    def column_named(self, name: str) -> str | None:
        """The target column ``name`` stands for, as the registry spells it: the same name, else
        the one equal ignoring case (the desk's app writes ``chofer``); None when there is none."""
        names = self.target_column_names
        return name if name in names else next((c for c in names if c.lower() == name.lower()), None)

    def type_of(self, column: str) -> str:
        for c in self.target_columns:
            if c.name == column:
                return c.type
        raise KeyError(column)


def _cols(*spec: str | tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(Column(s) if isinstance(s, str) else Column(*s) for s in spec)


TABLES: dict[str, TableSpec] = {
    "arribos": TableSpec(
        name="arribos",
        title="Import arrivals",
        about=("One row per import container arriving at the depot; the business key is `Contenedor`. "
               "The source table has an `updated_at` column, so incremental runs read only the rows "
               "changed since the stored watermark (minus a look-back window for late commits)."),
        source="arribos",
        target="traficov2_arribos",
        columns=_cols(
            ("Fecha", DATE, "%d/%m/%Y"), "Terminal", ("Turno", TIME, "%H%M"), "Contenedor", "Cliente", "Booking",
            "TLAT", "Tipo CNT", "Dimension", "Oper.", "Tiempo", "Estado", ("Peso", NUMERIC),
            "Peligrosa", "Chofer",
        ),
        key=("Contenedor",),
        csv_file_key="arribos_semana",
        default_csv="arribos_semana.csv",
    ),
    "pendiente_desconsolidar": TableSpec(
        name="pendiente_desconsolidar",
        title="Containers waiting to be unstuffed",
        about=("One row per container waiting to be unstuffed; the business key is `Contenedor`. "
               "The source table has no change timestamp, so every run reads the whole table and "
               "row hashes decide what changed."),
        source="pendiente_desconsolidar",
        target="traficov2_pendiente_desconsolidar",
        columns=_cols(
            "Contenedor", "Cliente", ("Entrega", DATE, "%d/%m"), ("Vto. Vacio", DATE, "%d/%m"), "Tipo",
            ("Peso", NUMERIC), ("Cantidad", INTEGER), "Envase", "Estado", "Chofer",
        ),
        key=("Contenedor",),
        csv_file_key="pendiente_desconsolidar",
        default_csv="pendiente_desconsolidar.csv",
    ),
    "remisiones": TableSpec(
        name="remisiones",
        title="Dispatch appointments",
        about=("One row per dispatch appointment; the business key is `Operacion` "
               "(`orden_ing-suborden-renglon`), joined with `Contenedor` when there is one. The "
               "source table has a `fecha_modificacion` column, so incremental runs read only what changed."),
        source="remisiones",
        target="traficov2_remisiones",
        columns=_cols(
            ("Dia", DATE, "%d/%m"), "Cliente", "Operacion", "Booking", "Contenedor", ("Volumen", NUMERIC),
            "Precinto", "Observaciones", "Estado", ("Hora", TIME, "%H:%M"), "e-tally", "Chofer",
        ),
        key=("Operacion",),
        key_optional=("Contenedor",),
        exit_match=MATCH_OPERATION,
        status_template=STATUS_TIME_FIRST,
        csv_file_key="remisiones_semana",
        default_csv="remisiones_semana.csv",
    ),
    "arribos_expo_ctns": TableSpec(
        name="arribos_expo_ctns",
        title="Empty export containers per booking",
        about=("A booking row with `Cantidad` N and no container stands for N pending containers; the "
               "target holds **one row per container slot** (`Booking` + `Secuencia`). The source "
               "table has no change timestamp, so row hashes decide what changed."),
        source="arribos_expo_ctns",
        target="traficov2_arribos_ctns_expo",
        columns=_cols(
            ("Fecha", DATE, "%d/%m"), "Booking", "Cliente", ("Cantidad", INTEGER), "Dimension", "Tipo",
            "Contenedor", "Precinto", "Origen", "Obs.", "Estado", "Peligrosa", "Chofer",
        ),
        key=("Booking",),  # + Secuencia, assigned by quantity expansion
        # Slots are computed per booking from all its rows: a partial read would look like a
        # shrinking demand, so the table is always read whole (it holds a week of bookings).
        slots=Slots(),
        read_whole=True,
        preserve_fields=("Chofer", "Obs.", "Estado"),
        csv_file_key="arribos_expo",
        default_csv="arribos_expo_ctns.csv",
    ),
}

# Extra CSV inputs that are not synced tables.
# The old config's ``csv_sources.files.arribos_expo_ctns`` names the availability export.
AVAILABILITY_CSV_KEY, AVAILABILITY_CSV = "arribos_expo_ctns", "arribos_expo_semana_ctns.csv"
SALIDAS_CSV_KEY, SALIDAS_CSV = "salidas", "salidas.csv"

SYSTEM_TABLES = (
    "traficov2_sync_log", "traficov2_sync_state", "traficov2_sync_rejects", "traficov2_sync_changes",
)


def get_table(name: str) -> TableSpec:
    """Look a table up by short name, source name or target name."""
    for spec in TABLES.values():
        if name in (spec.name, spec.source, spec.target):
            return spec
    raise KeyError(f"unknown table {name!r}; valid tables: {', '.join(TABLES)}")
