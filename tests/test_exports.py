"""Exports: each table as CSV and every CSV as a sheet of one workbook, values unchanged."""

import pandas as pd

from mmmhelpers.exports import save_table


def test_tables_land_as_csv_and_as_workbook_sheets(tmp_path):
    a = pd.DataFrame({"channel": ["x1", "x2"], "ROAS": [1.25, 0.5]})
    b = pd.DataFrame({"component": ["baseline"], "contribution": [12345.5]})
    save_table(tmp_path, "roas", a)
    save_table(tmp_path, "contributions", b)
    save_table(tmp_path, "roas", a.assign(ROAS=[2.0, 1.0]))  # a re-run stage refreshes its sheet
    sheets = pd.read_excel(tmp_path / "artifacts" / "tables.xlsx", sheet_name=None)
    assert sorted(sheets) == ["contributions", "roas"]
    pd.testing.assert_frame_equal(sheets["contributions"], b)
    assert sheets["roas"]["ROAS"].tolist() == [2.0, 1.0]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "artifacts" / "tables" / "roas.csv"), sheets["roas"],
                                  check_dtype=False)  # Excel keeps 2.0 as the integer 2
