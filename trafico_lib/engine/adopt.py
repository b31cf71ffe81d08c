"""Adopting the rows the old tool wrote (issue 22): pure transforms, no I/O.

A table the old tool made holds rows with no ``sync_key`` (``schema/adopt.py`` adds the column
empty). The first sync gives each its key, computed from its own business columns by the very
rules the source rows get (``normalize.py`` per column type, ``stage.build_sync_key``: a container
``MSKU-786798-2`` becomes ``MSKU7867982``; remisiones ``Operacion`` plus ``Contenedor`` when
present), so the merge finds it by key and updates it in place: its ``id`` and every column the
sync does not write stay as they are. A table with slots (expo) held one old row per booking:
that row becomes slot 1 of its booking (``Booking|1``).

    rows = store.read_unkeyed(spec, key_columns_of(spec, key))   # id + key columns (one query)
    ad = classify(rows, spec, key=key, run_date=...)             # each row's key and fate
    ad.match(source_keys)                                        # which keys the source holds
    ad.settle(done)                                              # what the SQL did (plan or run)

Fates (``status``): ``adopt`` (the highest ``id`` of its key), ``duplicate`` (an older copy of a
key: the old tool's "last one wins" index; the statement deactivates it, never deletes it),
``no key`` (its key columns are empty: left unkeyed, deactivated by a full run like any row the
source does not hold). An adopted row whose key no source row has (``in_source`` false) is
treated as any row that left the source. The statement that applies it is
``stores/sql/merge.adopt`` (the REST function is rendered from it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from ..tables import MAX_KEY_CHARS, TableSpec
from .stage import KEY_SEPARATOR, build_sync_key, key_columns

ADOPT, DUPLICATE, NO_KEY = "adopt", "duplicate", "no key"
FIRST_SLOT = 1  # an old booking row becomes this slot of its booking


def key_columns_of(spec: TableSpec, key: list[str] | None = None) -> list[str]:
    """The columns a row's key is computed from (a slot table's: its group)."""
    if spec.slots:
        return [spec.slots.group]
    required, optional = key_columns(spec, key)
    return [*required, *optional]


def adoption_keys(rows: pd.DataFrame, spec: TableSpec, *, key: list[str] | None = None,
                  run_date: date) -> pd.Series:
    """Each row's ``sync_key`` from its key columns, normalized as the source's are (None: no
    key can be made, or one longer than a key may be)."""
    from ..normalize import normalize_column
    cols = key_columns_of(spec, key)
    norm = pd.DataFrame(index=rows.index)
    for c in cols:
        raw = rows[c] if c in rows.columns else pd.Series([None] * len(rows), index=rows.index, dtype=object)
        raw = raw.astype(object).map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
        norm[c] = normalize_column(raw, c, spec.type_of(c), run_date)[0]
    if spec.slots:
        keys = [f"{g}{KEY_SEPARATOR}{FIRST_SLOT}" if isinstance(g, str) and g else None
                for g in norm[spec.slots.group]]
    else:
        keys = build_sync_key(norm, spec, key)
    return pd.Series([k if isinstance(k, str) and 0 < len(k) <= MAX_KEY_CHARS else None for k in keys],
                     index=rows.index, dtype=object)


@dataclass(frozen=True)
class Adopt:
    """What a store's adoption statement takes: the (id, sync_key) pairs, and when the desk's
    values in the adopted rows count as typed (the run's start)."""
    pairs: list[dict]
    edited_at: datetime


@dataclass
class Adoption:
    """The unkeyed rows of one target and what the first sync does with them."""
    table: str
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["id", "sync_key", "status", "in_source"]))  # + the key columns as the target holds them
    applied: bool = False  # settled by the run's writes (else: what they will do, as a plan saw it)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def pairs(self) -> list[dict]:
        """(id, sync_key) of every row that has a key, for the statement (it ranks them again
        against the target as it is then)."""
        keyed = self.rows[self.rows["sync_key"].notna()]
        return [{"id": int(i), "sync_key": k} for i, k in zip(keyed["id"], keyed["sync_key"])]

    def call(self, edited_at: datetime) -> Adopt:
        return Adopt(self.pairs, edited_at)

    @property
    def keys(self) -> list[str]:
        return sorted(set(self.rows.loc[self.rows["status"] == ADOPT, "sync_key"]))

    def match(self, source_keys) -> "Adoption":
        """Mark the rows whose key the source holds (``source_keys``: a set)."""
        self.rows["in_source"] = [isinstance(k, str) and k in source_keys for k in self.rows["sync_key"]]
        return self

    def settle(self, done: pd.DataFrame, *, applied: bool = False) -> "Adoption":
        """What the statement did (``done``: id, sync_key, adopted): rows it gave their key are
        ``adopt``, rows it deactivated ``duplicate``. A keyed row it did not touch (keyed or
        deactivated meanwhile) is dropped from the account, unless an earlier attempt of this
        run already did it (over REST each call commits). ``applied``: the run's own writes."""
        fate = {int(i): ADOPT if a else DUPLICATE for i, a in zip(done["id"], done["adopted"])}
        rows = self.rows
        earlier = self.applied
        keep = rows["sync_key"].isna() | rows["id"].map(lambda i: int(i) in fate) | earlier
        rows = rows[keep].copy()
        rows["status"] = [NO_KEY if k is None or pd.isna(k) else fate.get(int(i), s)
                          for i, k, s in zip(rows["id"], rows["sync_key"], rows["status"])]
        self.rows, self.applied = rows.reset_index(drop=True), applied or earlier
        return self

    def counts(self) -> dict[str, int]:
        """The run's counts of it (none when there was nothing to adopt): ``adopted`` (matched to
        a source row), ``adopted_unmatched`` (no source row in this run's read),
        ``old_duplicates`` (older copies deactivated), ``unkeyed`` (no key: left as they are)."""
        if not len(self.rows):
            return {}
        s, m = self.rows["status"], self.rows["in_source"].astype(bool)
        return {"adopted": int(((s == ADOPT) & m).sum()), "adopted_unmatched": int(((s == ADOPT) & ~m).sum()),
                "old_duplicates": int((s == DUPLICATE).sum()), "unkeyed": int((s == NO_KEY).sum())}

    def summary(self) -> str:
        c = self.counts()
        if not c:
            return "nothing to adopt: every row has its key"
        verb = "adopted" if self.applied else "to adopt"
        return (f"{c['adopted'] + c['adopted_unmatched']} old row(s) {verb} in place (id and desk "
                f"values kept): {c['adopted']} matched to a source row, {c['adopted_unmatched']} with no source row "
                f"(deactivated by a full run); {c['old_duplicates']} older duplicate(s) "
                f"{'deactivated' if self.applied else 'to deactivate'}; {c['unkeyed']} without a key (left unkeyed; "
                "a full run deactivates them)")


def as_adopted(existing: pd.DataFrame, adoption: Adoption, spec: TableSpec, preserve: list[str]) -> pd.DataFrame:
    """A slot table's current rows (``id``, ``sync_key``, the slot columns, preserved fields,
    ``manual_updated_at``, ``synced_at``) as they will be once adopted, for the slot enrichment:
    an old booking row to adopt is slot 1 of its booking, holding no container (its
    ``Contenedor`` is the old tool's joined list), its desk values making it a slot the desk
    edited; the other unkeyed rows are no slot."""
    if not len(existing) or "id" not in existing.columns or existing["sync_key"].notna().all():
        return existing
    names = spec.slots
    keyed = adoption.rows[adoption.rows["status"] == ADOPT] if len(adoption) else adoption.rows
    key_of = {int(i): k for i, k in zip(keyed["id"], keyed["sync_key"])}
    out = existing.copy()
    new = out["sync_key"].isna() & out["id"].map(lambda i: int(i) in key_of)
    out = out[out["sync_key"].notna() | new].copy()
    new = new[out.index]
    out.loc[new, "sync_key"] = [key_of[int(i)] for i in out.loc[new, "id"]]
    if names is not None:
        out.loc[new, names.sequence] = FIRST_SLOT
    if "synced_at" in out.columns:
        out.loc[new, "synced_at"] = None
    if "manual_updated_at" in out.columns:
        fields = [p for p in preserve if p in out.columns]
        typed = out.loc[new, fields].apply(
            lambda r: any(isinstance(v, str) and v.strip() or (v is not None and not isinstance(v, str)
                                                               and not pd.isna(v)) for v in r), axis=1) \
            if fields and new.any() else pd.Series(False, index=out.index[new])
        out.loc[new, "manual_updated_at"] = [True if t else None for t in typed]
    return out


def classify(rows: pd.DataFrame, spec: TableSpec, *, key: list[str] | None = None, run_date: date) -> Adoption:
    """Each unkeyed row (``rows``: ``id`` and the key columns) with its key and fate: per key the
    highest ``id`` is adopted, the others are duplicates; a row with no key stays unkeyed."""
    out = rows.copy().reset_index(drop=True)
    out["sync_key"] = adoption_keys(out, spec, key=key, run_date=run_date) if len(out) else pd.Series(dtype=object)
    out["status"] = NO_KEY
    keyed = out["sync_key"].notna()
    if keyed.any():
        ids = pd.to_numeric(out["id"])
        top = ids[keyed].groupby(out.loc[keyed, "sync_key"]).transform("max")
        out.loc[keyed, "status"] = [ADOPT if i == t else DUPLICATE for i, t in zip(ids[keyed], top)]
    out["in_source"] = False
    front = ["id", "sync_key", "status", "in_source"]
    out = out[front + [c for c in out.columns if c not in front]]
    return Adoption(spec.name, out.sort_values("id", kind="stable").reset_index(drop=True))
