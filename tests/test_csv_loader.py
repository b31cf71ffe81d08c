"""The CSV loader: every export variant the depot produces reads as the same clean text."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trafico_lib.sources.csv import CsvError, detect_separator, read_csv, read_named_csv, read_table_csv
from trafico_lib.tables import TABLES

ARRIBOS_HEADER = ("Fecha,Terminal,Turno,Contenedor,Cliente,Booking,TLAT,Tipo CNT,Dimension,Oper.,"
                  "Tiempo,Estado,Peso,Peligrosa,Chofer")


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\r\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def assert_all_text(df: pd.DataFrame) -> None:
    for col in df.columns:
        assert df[col].dtype == object, col
        assert all(v is None or isinstance(v, str) for v in df[col]), col


# ---- encodings and separators ----------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("sep", [",", ";"])
def test_every_encoding_and_separator_reads_the_same(tmp_path, encoding, sep):
    text = sep.join(["Cliente", "Contenedor", "Peso"]) + "\n" + sep.join(["Logística Río", "MSCU1234566", "1429.0"]) + "\n"
    df = read_csv(write(tmp_path / "f.csv", text, encoding))
    assert list(df.columns) == ["Cliente", "Contenedor", "Peso"]  # no BOM left on the first name
    assert df.to_dict("records") == [{"Cliente": "Logística Río", "Contenedor": "MSCU1234566", "Peso": "1429.0"}]
    assert_all_text(df)


def test_cp1252_semicolon_file_with_decimal_commas_is_not_split(tmp_path):
    text = ("Cliente;Peso;Volumen\n"
            "Logística Río;1.429,5;12,75\n"
            "Frigorífico Señor;2,0;\n")
    df = read_csv(write(tmp_path / "f.csv", text, "cp1252"))
    assert df["Cliente"].tolist() == ["Logística Río", "Frigorífico Señor"]
    assert df["Peso"].tolist() == ["1.429,5", "2,0"]
    assert df["Volumen"].tolist() == ["12,75", None]


def test_quoted_fields_keep_their_commas_and_quotes(tmp_path):
    text = 'Cliente,Observaciones\n"Pérez, Juan","dijo ""urgente"", llamar"\n'
    df = read_csv(write(tmp_path / "f.csv", text))
    assert df.loc[0, "Cliente"] == "Pérez, Juan"
    assert df.loc[0, "Observaciones"] == 'dijo "urgente", llamar'


def test_identifiers_stay_as_written(tmp_path):
    text = "Operacion,Precinto,Peso,Cantidad\n00123,007,1429.0,3\n37644-1-1,0001,1.429,5\n"
    df = read_csv(write(tmp_path / "f.csv", text.replace("1.429,5", '"1.429,5"')))
    assert df["Operacion"].tolist() == ["00123", "37644-1-1"]
    assert df["Precinto"].tolist() == ["007", "0001"]
    assert df["Peso"].tolist() == ["1429.0", "1.429,5"]
    assert df["Cantidad"].tolist() == ["3", None]


def test_placeholders_and_blanks_become_none(tmp_path):
    text = ("Contenedor;Hora;Peso;Cliente;Obs\n"
            " - ;  : 0   ;nan;  ACME SA   ;''\n"
            "NaN;:0;;None;null\n")
    df = read_csv(write(tmp_path / "f.csv", text.replace("''", "")))
    assert df.loc[0].tolist() == [None, None, None, "ACME SA", None]
    assert df.loc[1].tolist() == [None, None, None, None, None]


def test_header_names_are_trimmed_and_blank_lines_skipped(tmp_path):
    text = " Fecha , Tipo CNT ,Peso\n\n01/02,40HC,1\n , ,\n,,\n02/02,20DV,2\n"
    df = read_csv(write(tmp_path / "f.csv", text))
    assert list(df.columns) == ["Fecha", "Tipo CNT", "Peso"]
    assert df["Fecha"].tolist() == ["01/02", "02/02"]


def test_short_rows_are_padded_and_trailing_empty_fields_ignored(tmp_path):
    text = "a;b;c\n1;2\n4;5;6;\n"
    df = read_csv(write(tmp_path / "f.csv", text, newline="\n"))
    assert df.to_dict("records") == [{"a": "1", "b": "2", "c": None}, {"a": "4", "b": "5", "c": "6"}]


def test_excel_sep_hint_line(tmp_path):
    df = read_csv(write(tmp_path / "f.csv", "sep=;\na;b\n1,5;2\n"))
    assert df.to_dict("records") == [{"a": "1,5", "b": "2"}]


def test_separator_is_decided_on_the_header():
    assert detect_separator("Fecha;Cliente;Peso") == ";"
    assert detect_separator("Fecha,Cliente,Peso") == ","
    assert detect_separator('"Cliente; nombre",Peso,Fecha') == ","


def test_adds_no_columns_and_header_only_file_is_empty(tmp_path):
    df = read_csv(write(tmp_path / "f.csv", ARRIBOS_HEADER + "\n"))
    assert list(df.columns) == ARRIBOS_HEADER.split(",")
    assert len(df) == 0


# ---- errors ------------------------------------------------------------------------------

def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(CsvError) as exc:
        read_csv(tmp_path / "nope.csv")
    assert str(exc.value) == f"{tmp_path / 'nope.csv'}: not found"


def test_ragged_row_error_names_its_line(tmp_path):
    text = "Cliente,Peso\nACME,1\n\nACME,1,5\nACME,2\n"
    path = write(tmp_path / "ragged.csv", text)
    with pytest.raises(CsvError, match=r"ragged\.csv: line 4: 3 fields but the header has 2"):
        read_csv(path)


def test_broken_quoting_error_names_its_line(tmp_path):
    path = write(tmp_path / "q.csv", 'a,b\n1,2\n"x"y,3\n')
    with pytest.raises(CsvError, match=r"q\.csv: line 3: unreadable row"):
        read_csv(path)


def test_empty_file_and_duplicate_header_are_errors(tmp_path):
    with pytest.raises(CsvError, match="empty file"):
        read_csv(write(tmp_path / "e.csv", "\n\n"))
    with pytest.raises(CsvError, match=r"line 1: duplicate column name 'a'"):
        read_csv(write(tmp_path / "d.csv", "a,b,a\n1,2,3\n"))


def test_unnamed_column_with_values_is_an_error(tmp_path):
    with pytest.raises(CsvError, match=r"column 3 has no name but holds values \(first at line 3\)"):
        read_csv(write(tmp_path / "u.csv", "a,b,\n1,2,\n1,2,x\n"))
    assert list(read_csv(write(tmp_path / "ok.csv", "a,b,\n1,2,\n")).columns) == ["a", "b"]


def test_undecodable_bytes_name_the_line(tmp_path):
    # 0x81 is undefined in cp1252 and invalid as UTF-8 here
    (tmp_path / "bin.csv").write_bytes(b"a,b\n1,2\nx\x81,3\n")
    with pytest.raises(CsvError, match=r"bin\.csv: line 3: neither UTF-8 nor cp1252"):
        read_csv(tmp_path / "bin.csv")


# ---- tables from the config --------------------------------------------------------------

def test_read_table_csv_keeps_registry_columns_and_file_lines(tmp_path, make_config):
    spec = TABLES["arribos"]
    rows = [
        "28/12,TRP,0700 ,MSCU-123456-6,Logística Río,BK 001,x,40HC,40,IMPO,1,,1429.0,NO,",
        "29/12,EXOLGAN,8:00 ,msku 123456 6,ACME,BK-2,x,20DV,20,IMPO,1,,\"1.429,5\",SI,Juan",
    ]
    header = ARRIBOS_HEADER + ",Extra"
    text = header + "\n" + rows[0] + ",ignored\n\n" + rows[1] + ",ignored\n"
    write(tmp_path / "arribos_semana.csv", text, "utf-8-sig")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    df = read_table_csv(cfg, spec)
    assert list(df.columns) == spec.column_names + ["_row"]
    assert df["_row"].tolist() == [2, 4]
    assert df["Contenedor"].tolist() == ["MSCU-123456-6", "msku 123456 6"]  # raw text, normalize types it
    assert df["Turno"].tolist() == ["0700", "8:00"]
    assert df["Chofer"].tolist() == [None, "Juan"]
    assert df["Peso"].tolist() == ["1429.0", "1.429,5"]


def test_read_table_csv_uses_the_configured_file_name(tmp_path, make_config):
    spec = TABLES["remisiones"]
    header = ";".join(spec.column_names)
    write(tmp_path / "otro.csv", header + "\n01/12;ACME;37644-1-1;;;;;;;10:00;;\n", "cp1252")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path), "files": {"remisiones_semana": "otro.csv"}}})
    df = read_table_csv(cfg, spec)
    assert df.loc[0, "Operacion"] == "37644-1-1"
    assert df.loc[0, "_row"] == 2


def test_read_table_csv_matches_headers_ignoring_case_and_accents(tmp_path, make_config):
    spec = TABLES["remisiones"]
    header = ",".join({"Operacion": "Operación", "Dia": "DÍA"}.get(c, c) for c in spec.column_names)
    write(tmp_path / "remisiones_semana.csv", header + "\n01/12,ACME,1-1-1,,,,,,,,,\n")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    df = read_table_csv(cfg, spec)
    assert df.loc[0, "Operacion"] == "1-1-1" and df.loc[0, "Dia"] == "01/12"


def test_missing_required_columns_name_file_and_columns(tmp_path, make_config):
    spec = TABLES["remisiones"]
    cols = [c for c in spec.column_names if c not in ("Volumen", "Operacion", "Contenedor")]
    write(tmp_path / "remisiones_semana.csv", ",".join(cols) + "\n")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    with pytest.raises(CsvError) as exc:
        read_table_csv(cfg, spec)
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / "remisiones_semana.csv") + ": missing columns 'Operacion', 'Contenedor'")


def test_missing_other_columns_come_back_empty_and_named(tmp_path, make_config):
    """Only a key column missing refuses the file (issue 21, point 3): the live week's arrivals
    lack ``Tiempo`` and ``Chofer``; those come back empty and named in the frame's attrs, for
    the sync to leave alone."""
    from trafico_lib.sources.csv import ABSENT
    spec = TABLES["arribos"]
    cols = [c for c in spec.column_names if c not in ("Tiempo", "Chofer")] + ["arribado"]
    write(tmp_path / "arribos_semana.csv", ",".join(cols) + "\n" + ",".join(["1"] * len(cols)) + "\n")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    df = read_table_csv(cfg, spec)
    assert df["Tiempo"].tolist() == [None] and df.attrs[ABSENT] == ["Tiempo", "Chofer"]


def test_missing_preserved_columns_are_optional(tmp_path, make_config):
    spec = TABLES["arribos"]
    cols = [c for c in spec.column_names if c not in ("Chofer", "Estado")]
    write(tmp_path / "arribos_semana.csv", ",".join(cols) + "\n" + ",".join(["1"] * len(cols)) + "\n")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    df = read_table_csv(cfg, spec)
    assert df["Chofer"].tolist() == [None] and df["Estado"].tolist() == [None]
    with pytest.raises(CsvError, match="missing column 'Chofer'"):
        read_table_csv(cfg, spec, required=["Chofer"])


def test_read_table_csv_missing_file(tmp_path, make_config):
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    with pytest.raises(CsvError, match=r"pendiente_desconsolidar\.csv: not found$"):
        read_table_csv(cfg, TABLES["pendiente_desconsolidar"])


def test_read_named_csv_keeps_all_columns(tmp_path, make_config):
    write(tmp_path / "salidas.csv", "orden_ing;suborden;renglon;contenedor;validada;usuario\n"
                                    "37644;1;1;MSCU1234566;S;ana\n")
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    df = read_named_csv(cfg, "salidas")
    assert list(df.columns) == ["orden_ing", "suborden", "renglon", "contenedor", "validada", "usuario", "_row"]
    assert df.loc[0, "orden_ing"] == "37644" and df.loc[0, "_row"] == 2
