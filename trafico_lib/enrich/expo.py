"""Quantity expansion and container assignment for a table with slots (docs/architecture.md §4 step 4).

Which table and which columns is the registry's ``slots`` trait (``tables.Slots``): for the
expo table ``arribos_expo_ctns``, group ``Booking``, sequence ``Secuencia``, quantity
``Cantidad``, item ``Contenedor``; the names below are those. The source says, per booking,
how many containers are still pending (a row with ``Cantidad`` N and no container) and which
containers already arrived (a row with a container stands for one). The target holds one row
per container *slot*: ``Booking`` + ``Secuencia`` (1..demand), ``Cantidad`` 1 each.

:func:`expand_slots` computes the slots from the source, the slots already in the target and
the availability CSV. The rules, which keep the traffic desk's work safe across runs:

* demand of a booking = sum of ``Cantidad`` of its pending rows + one per container row
  (a pending row without ``Cantidad`` counts as one);
* a booking whose demand is 0 (every row ``Cantidad`` 0, none names a container) still gets
  one slot, with ``Cantidad`` 0 kept on it and its row's warnings (``cantidad_positive``), as
  the old tool kept it as one record: it never vanishes without a trace;
* a container sits in at most one slot and never moves once placed;
* new containers (source rows first, then the availability CSV when enabled) fill the
  lowest empty active slot; bookings are served by earliest ``Fecha``;
* a slot keeps its manual fields (``Chofer``, ``Obs.``, ``Estado``) when its container arrives;
* when demand shrinks, empty slots without manual data are deactivated (highest
  ``Secuencia`` first), never a slot holding a container or manual data;
* the result depends only on the inputs: a rerun on its own output changes nothing.

Everything here is a pure function over DataFrames; reading and writing happen elsewhere.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

import pandas as pd

from ..errors import SyncFailed
from ..tables import INTEGER, Slots, TableSpec
from ..values import is_missing, text_or_none

_log = logging.getLogger(__name__)

_GROUP, _ITEM = "__group", "__item"  # a source row's group and item as clean text


# ---- small value helpers -----------------------------------------------------------------

def _order_value(v: Any) -> tuple:
    """A sort key that orders numbers numerically, then text, missing last."""
    if is_missing(v):
        return (2, 0, "")
    if isinstance(v, bool):
        return (1, 0, str(v))
    if isinstance(v, (int, float)):
        return (0, float(v), "")
    try:
        return (0, float(str(v)), "")
    except ValueError:
        return (1, 0, str(v))


def _fecha_key(v: Any) -> date:
    if is_missing(v):
        return date.max
    if isinstance(v, pd.Timestamp):
        return v.date()
    return v if isinstance(v, date) else date.max


def _warnings(v: Any) -> list:
    if isinstance(v, (list, tuple)):
        return list(v)
    if hasattr(v, "tolist") and not isinstance(v, str):
        return list(v.tolist())
    return []


# ---- the working model -------------------------------------------------------------------

@dataclass
class _Slot:
    seq: int
    container: str | None = None
    existing: dict | None = None      # the target row, None for a new slot
    manual: bool = False              # protected: the desk edited it
    active: bool = True
    feed: dict | None = None          # source row giving business values and meta
    feed_is_row: bool = False         # feed is a real source row (meta copied) vs. a profile

    @property
    def protected(self) -> bool:
        return self.container is not None or self.manual


@dataclass
class _Booking:
    booking: str
    priority: tuple
    rows: list[dict]                              # source rows in order
    pending_units: list[dict] = field(default_factory=list)   # one entry per pending container
    container_rows: list[dict] = field(default_factory=list)  # distinct containers, first row each
    slots: list[_Slot] = field(default_factory=list)
    to_place: list[dict] = field(default_factory=list)
    elsewhere: list[dict] = field(default_factory=list)  # container placed in another booking's slot

    @property
    def demand(self) -> int:
        return len(self.pending_units) + len(self.container_rows)

    @property
    def zero_demand(self) -> bool:
        """Every row asks for no container (``Cantidad`` 0) and none names one: one slot
        stands for the booking, fed by its first row, ``Cantidad`` 0 kept."""
        return self.demand == 0

    @property
    def profile(self) -> dict:
        """The row whose values describe a pending slot: the first pending row, else the first row."""
        for r in self.rows:
            if r[_ITEM] is None:
                return r
        return self.rows[0]

    def empty_active(self) -> list[_Slot]:
        return [s for s in self.slots if s.active and s.container is None]


def _pending_count(row: dict, quantity: str, quantity_expansion: bool) -> int:
    if not quantity_expansion:
        return 1
    q = row.get(quantity)
    if is_missing(q):
        return 1
    try:
        return max(int(q), 0)
    except (TypeError, ValueError):
        return 1


def _source_records(source: pd.DataFrame, names: Slots) -> list[dict]:
    """Source rows as dicts with their group and item as clean text, in a deterministic order."""
    if source is None or len(source) == 0:
        return []
    records = source.to_dict("records")
    for i, r in enumerate(records):
        r[_GROUP] = text_or_none(r.get(names.group))
        r[_ITEM] = text_or_none(r.get(names.item))
        r["__pos"] = i
    dropped = sum(1 for r in records if r[_GROUP] is None)
    if dropped:
        _log.warning("slots: %d source row(s) without %s cannot be slotted", dropped, names.group)
    records = [r for r in records if r[_GROUP] is not None]
    records.sort(key=lambda r: (_fecha_key(r.get(names.priority)), _order_value(r.get("_source_id")),
                                _order_value(r.get("_row")), r["__pos"]))
    return records


def _bookings(records: list[dict], names: Slots, quantity_expansion: bool) -> list[_Booking]:
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r[_GROUP], []).append(r)
    out = []
    for b, rows in by.items():
        first = min(_fecha_key(r.get(names.priority)) for r in rows)
        bk = _Booking(booking=b, priority=(first, b), rows=rows)
        seen: set[str] = set()
        for r in rows:
            if r[_ITEM] is None:
                bk.pending_units.extend([r] * _pending_count(r, names.quantity, quantity_expansion))
            elif r[_ITEM] not in seen:
                seen.add(r[_ITEM])
                bk.container_rows.append(r)
        out.append(bk)
    out.sort(key=lambda bk: bk.priority)
    return out


def _existing_records(existing: pd.DataFrame | None, preserve: Sequence[str],
                      names: Slots) -> dict[str, list[_Slot]]:
    """Target slots per group, sorted by sequence."""
    if existing is None or len(existing) == 0:
        return {}
    from ..normalize import normalize_container  # the same rule as the source side
    df = existing.copy()
    if names.group not in df.columns and "sync_key" in df.columns:
        df[names.group] = df["sync_key"].map(lambda k: str(k).rsplit("|", 1)[0])
    if names.sequence not in df.columns and "sync_key" in df.columns:
        df[names.sequence] = df["sync_key"].map(lambda k: str(k).rsplit("|", 1)[-1])
    if "sync_key" in df.columns:  # a row with no key yet (the old tool's) is no slot until adopted
        df = df[df["sync_key"].notna()].copy()
    df[names.item] = normalize_container(df[names.item]) if names.item in df.columns else None
    if "synced_at" in df.columns:  # never written by the sync (adopted from the old tool): its item
        # column holds the old tool's joined list ("A, B", "-"), not a placement; the source's
        # containers fill the slot by the usual rule
        df.loc[df["synced_at"].isna(), names.item] = None
    has_manual_col = "manual_updated_at" in df.columns
    out: dict[str, list[_Slot]] = {}
    for r in df.to_dict("records"):
        b = text_or_none(r.get(names.group))
        seq = r.get(names.sequence)
        if b is None or is_missing(seq):
            continue
        try:
            seq = int(seq)
        except (TypeError, ValueError):
            continue
        if has_manual_col:
            manual = not is_missing(r.get("manual_updated_at"))
        else:
            manual = any(text_or_none(r.get(f)) is not None for f in preserve)
        activo = r.get("activo")
        out.setdefault(b, []).append(_Slot(
            seq=seq, container=text_or_none(r.get(names.item)), existing=r, manual=manual,
            active=True if is_missing(activo) else bool(activo)))
    for slots in out.values():
        slots.sort(key=lambda s: s.seq)
    return out


def _availability(availability: pd.DataFrame | None, names: Slots) -> dict[str, list[str]]:
    """Available containers per normalized booking, file order, duplicates dropped."""
    if availability is None or len(availability) == 0:
        return {}
    if names.group not in availability.columns or names.item not in availability.columns:
        raise SyncFailed(f"availability CSV needs columns {names.group} and {names.item} "
                         f"(got {', '.join(map(str, availability.columns))})")
    from ..normalize import normalize_booking, normalize_container
    bookings = normalize_booking(availability[names.group]).tolist()
    containers = normalize_container(availability[names.item]).tolist()
    out: dict[str, list[str]] = {}
    for b, c in zip(bookings, containers):
        if b is None or c is None:
            continue
        lst = out.setdefault(b, [])
        if c not in lst:
            lst.append(c)
    return out


# ---- the passes ----------------------------------------------------------------------------

def _claim_source_containers(bookings: list[_Booking], placed: dict[str, tuple[str, int | None]]) -> None:
    """Pass 1: each source container row is bound to its slot, queued for placement, or noted
    as held by another booking (placed containers never move)."""
    for bk in bookings:
        own = {s.container: s for s in bk.slots if s.container is not None}
        for r in bk.container_rows:
            c = r[_ITEM]
            if c in own and placed.get(c, (None,))[0] == bk.booking:
                slot = own[c]
                slot.feed, slot.feed_is_row = r, True
            elif c in placed:
                bk.elsewhere.append(r)
            else:
                placed[c] = (bk.booking, None)  # reserved; the slot is chosen below
                bk.to_place.append(r)


def _size_slots(bk: _Booking) -> None:
    """Choose the active slots: protected ones always; then the lowest others up to demand;
    new slots (next Secuencia numbers) when still short."""
    protected = [s for s in bk.slots if s.protected]
    holding = sum(1 for s in bk.slots if s.container is not None)
    need = max(bk.demand, 1 if bk.zero_demand else 0, len(protected), holding + len(bk.to_place))
    extra = need - len(protected)
    for s in bk.slots:
        if s.protected:
            s.active = True
        else:
            s.active = extra > 0
            extra -= 1 if extra > 0 else 0
    next_seq = max((s.seq for s in bk.slots), default=0) + 1
    while extra > 0:
        bk.slots.append(_Slot(seq=next_seq))
        next_seq += 1
        extra -= 1


def _place(bk: _Booking, container: str, placed: dict) -> _Slot | None:
    empty = bk.empty_active()
    if not empty:
        return None
    slot = empty[0]
    slot.container = container
    placed[container] = (bk.booking, slot.seq)
    return slot


def _feed_slots(bk: _Booking) -> None:
    """Pass 3: give every active slot not fed by its own container row a source row, in order."""
    feeders = iter(list(bk.pending_units) + list(bk.elsewhere) + ([bk.profile] if bk.zero_demand else []))
    for s in bk.slots:
        if not s.active or s.feed is not None:
            continue
        row = next(feeders, None)
        if row is not None:
            s.feed, s.feed_is_row = row, True
        else:
            s.feed, s.feed_is_row = bk.profile, False


# ---- building the output ---------------------------------------------------------------

def _slot_record(bk: _Booking, s: _Slot, names: Slots, business: list[str], meta: list[str],
                 preserve: Sequence[str], quantity_expansion: bool) -> dict:
    rec: dict[str, Any] = {}
    if s.active:
        base = s.feed if s.feed is not None else bk.profile
        for col in business:
            rec[col] = base.get(col)
        rec[names.quantity] = 1 if quantity_expansion and not bk.zero_demand else base.get(names.quantity)
        if s.existing is not None and s.manual:
            for f in preserve:
                if text_or_none(rec.get(f)) is None and text_or_none(s.existing.get(f)) is not None:
                    rec[f] = s.existing.get(f)
        for m in meta:
            rec[m] = base.get(m) if s.feed_is_row else None
        rec["validation_warnings"] = _warnings(base.get("validation_warnings")) if s.feed_is_row else []
    else:
        # an inactive slot keeps its values; columns the target read did not carry come from the profile
        ex = s.existing or {}
        for col in business:
            rec[col] = ex.get(col) if col in ex else bk.profile.get(col)
        if names.quantity not in ex and quantity_expansion:
            rec[names.quantity] = 1
        for m in meta:
            rec[m] = None
        rec["validation_warnings"] = []
    rec[names.group] = bk.booking
    rec[names.item] = s.container
    rec[names.sequence] = s.seq
    rec["sync_key"] = f"{bk.booking}|{s.seq}"
    rec["activo"] = bool(s.active)
    return rec


def _frame(records: list[dict], source: pd.DataFrame | None, spec: TableSpec, columns: list[str],
           meta: list[str]) -> pd.DataFrame:
    data = {c: pd.Series([r.get(c) for r in records], dtype=object) for c in columns}
    out = pd.DataFrame(data, columns=columns)
    for c in spec.target_column_names:
        if spec.type_of(c) == INTEGER:
            out[c] = pd.array([None if is_missing(v) else int(v) for v in out[c]], dtype="Int64")
    out["activo"] = out["activo"].astype(bool)
    for m in meta:  # give meta columns back their source dtype where the values allow it
        dtype = source[m].dtype
        try:
            if pd.api.types.is_integer_dtype(dtype) and out[m].isna().any():
                out[m] = out[m].astype("Int64")
            elif not pd.api.types.is_object_dtype(dtype) and not pd.api.types.is_string_dtype(dtype):
                out[m] = out[m].astype(dtype)
        except (TypeError, ValueError):
            pass
    return out


def _slots_of(spec: TableSpec) -> Slots:
    if spec.slots is None:
        raise ValueError(f"{spec.name} has no slots (TableSpec.slots is None)")
    return spec.slots


def expand_slots(source: pd.DataFrame, existing: pd.DataFrame | None, availability: pd.DataFrame | None = None,
                 *, spec: TableSpec, quantity_expansion: bool = True, container_assignment: bool = True,
                 preserve_fields: Sequence[str] | None = None) -> pd.DataFrame:
    """One target row per container slot of every booking in ``source`` (see the module doc).

    ``spec``: the table, whose ``slots`` trait names the columns (a ``ValueError`` without).
    ``source``: its normalized rows (business columns, ``_`` meta columns,
    ``validation_warnings``). ``existing``: the target's current slots (``Booking``,
    ``Secuencia``, ``Contenedor``, preserved fields, ``activo``, ``manual_updated_at``, and
    ``sync_key``, ``synced_at`` when known: a row with no key is no slot, and a row the sync never
    wrote, an old booking row adopted as slot 1, places no container; may be None). ``availability``: rows of the availability CSV (``Booking``, ``Contenedor``), used
    when ``container_assignment`` is on. ``quantity_expansion`` off: one slot per source row
    (the row's own ``Cantidad`` kept). ``preserve_fields``: the desk's fields (default: the
    registry's). Slots of bookings absent from ``source`` are not returned.

    Returns business columns + ``Secuencia`` (Int64), ``sync_key`` (``Booking|Secuencia``),
    ``activo``, ``validation_warnings`` and the source meta columns, ordered by booking
    priority then ``Secuencia``; ``attrs["demand"]`` maps each booking to its demand.
    """
    names = _slots_of(spec)
    preserve = tuple(preserve_fields) if preserve_fields is not None else spec.preserve_fields
    business = spec.column_names
    meta = [c for c in (source.columns if source is not None else [])
            if isinstance(c, str) and c.startswith("_")]
    columns = spec.target_column_names + ["sync_key", "activo", "validation_warnings"] + meta

    bookings = _bookings(_source_records(source, names), names, quantity_expansion)
    current = _existing_records(existing, preserve, names)
    placed: dict[str, tuple[str, int | None]] = {}
    for bk in bookings:  # earliest booking first, so a duplicated container stays with it
        bk.slots = current.get(bk.booking, [])
        for s in bk.slots:
            if s.container is not None and s.container not in placed:
                placed[s.container] = (bk.booking, s.seq)

    _claim_source_containers(bookings, placed)
    for bk in bookings:
        _size_slots(bk)
        for r in bk.to_place:
            slot = _place(bk, r[_ITEM], placed)
            if slot is not None:  # always, by the sizing rule
                slot.feed, slot.feed_is_row = r, True
    if container_assignment:
        offered = _availability(availability, names)
        for bk in bookings:
            for c in offered.get(bk.booking, []):
                if c not in placed and _place(bk, c, placed) is None:
                    break
    records = []
    for bk in bookings:
        _feed_slots(bk)
        for s in sorted(bk.slots, key=lambda s: s.seq):
            records.append(_slot_record(bk, s, names, business, meta, preserve, quantity_expansion))
    out = _frame(records, source, spec, columns, meta)
    out.attrs["demand"] = {bk.booking: bk.demand for bk in bookings}
    return out


def slot_summary(slots: pd.DataFrame, *, spec: TableSpec) -> pd.DataFrame:
    """Per group (booking): demand, active slots, filled, empty and inactive slots (for the notebook)."""
    names = _slots_of(spec)
    group = names.group
    cols = [group, "demand", "slots", "filled", "empty", "inactive"]
    if slots is None or len(slots) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object if c == group else "int64") for c in cols})
    demand = slots.attrs.get("demand", {})
    active = slots["activo"].astype(bool)
    filled = active & slots[names.item].notna()
    g = pd.DataFrame({group: slots[group], "slots": active, "filled": filled,
                      "empty": active & ~filled, "inactive": ~active})
    out = g.groupby(group, sort=False).sum().astype("int64").reset_index()
    out.insert(1, "demand", [int(demand.get(b, n)) for b, n in zip(out[group], out["slots"])])
    out[group] = out[group].astype(object)
    return out[cols]

