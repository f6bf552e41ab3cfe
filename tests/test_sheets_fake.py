"""The fake Sheets API (``fakes.sheets``) refuses what Google refuses, in Google's error shape.

A fake kinder than Google lets a connector bug through: each test here sends the fake a request
Google refuses and checks the answer (400 INVALID_ARGUMENT or 401 UNAUTHENTICATED, the message
Google gives) and that nothing of the request was written. They failed on the old fake, which
served requests without a token, wrote cells of any length, wrote values past the range given for
them, and answered ``{}`` to a request kind the API does not have or a tab it does not hold.
"""

from __future__ import annotations

from typing import Any

import requests
import responses

from fakes.sheets import API, MAX_CELL_CHARS, FakeSpreadsheet

KEY = "sheetKey123"
BEARER = {"Authorization": "Bearer ya29.test"}


def sheet() -> FakeSpreadsheet:
    fake = FakeSpreadsheet(KEY)
    fake.add_tab("People", [["ID", "Name"], ["1", "Ann"]], rows=10, cols=5)
    fake.register(responses.mock)
    return fake


def values_update(data: list[dict[str, Any]], headers: dict[str, str] = BEARER) -> requests.Response:
    return requests.post(
        f"{API}/{KEY}/values:batchUpdate", json={"valueInputOption": "RAW", "data": data}, headers=headers
    )


def structure(*requests_: dict[str, Any]) -> requests.Response:
    return requests.post(f"{API}/{KEY}:batchUpdate", json={"requests": list(requests_)}, headers=BEARER)


def refused(answer: requests.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == status
    assert error["status"] == ("UNAUTHENTICATED" if status == 401 else "INVALID_ARGUMENT")
    assert words in error["message"], error["message"]


@responses.activate
def test_a_request_without_a_bearer_token_is_a_401_unauthenticated_and_reads_nothing() -> None:
    fake = sheet()
    got = requests.get(f"{API}/{KEY}", params={"includeGridData": "false"})
    refused(got, 401, "missing required authentication credential")
    refused(values_update([{"range": "'People'!C1", "values": [["x"]]}], headers={}), 401, "OAuth 2")
    assert fake.tabs["People"].cell(1, 3) == ""
    assert requests.get(f"{API}/{KEY}", headers=BEARER).status_code == 200


@responses.activate
def test_a_cell_over_50000_characters_is_refused_whole_in_either_kind_of_write() -> None:
    fake = sheet()
    long = "x" * (MAX_CELL_CHARS + 1)
    got = values_update(
        [{"range": "'People'!C1", "values": [["ok"]]}, {"range": "'People'!C2", "values": [[long]]}]
    )
    refused(got, 400, "more than the maximum of 50000 characters in a single cell")
    cells = {"userEnteredValue": {"stringValue": long}}
    got = structure(
        {
            "updateCells": {
                "start": {"sheetId": fake.tabs["People"].sheet_id, "rowIndex": 3, "columnIndex": 0},
                "rows": [{"values": [cells]}],
                "fields": "userEnteredValue",
            }
        }
    )
    refused(got, 400, "50000 characters")
    assert fake.tabs["People"].trimmed() == [["ID", "Name"], ["1", "Ann"]]  # the first range neither
    assert values_update([{"range": "'People'!C1", "values": [["x" * MAX_CELL_CHARS]]}]).status_code == 200


@responses.activate
def test_values_that_do_not_fit_the_range_given_are_refused_and_one_cell_is_where_they_start() -> None:
    fake = sheet()
    refused(
        values_update([{"range": "'People'!A3:B3", "values": [["2", "Bo", "extra"]]}]),
        400,
        "Requested writing within range ['People'!A3:B3], but tried writing to column [C]",
    )
    refused(
        values_update([{"range": "'People'!A3:B3", "values": [["2", "Bo"], ["3", "Cy"]]}]),
        400,
        "but tried writing to row [4]",
    )
    assert fake.tabs["People"].trimmed() == [["ID", "Name"], ["1", "Ann"]]
    assert values_update([{"range": "'People'!A3", "values": [["2", "Bo"], ["3", "Cy"]]}]).status_code == 200
    assert fake.tabs["People"].trimmed()[2:] == [["2", "Bo"], ["3", "Cy"]]


@responses.activate
def test_a_request_kind_the_api_lacks_or_a_tab_it_does_not_hold_fails_the_whole_batch() -> None:
    fake = sheet()
    tab = fake.tabs["People"]
    grow = {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "ROWS", "length": 5}}
    refused(structure(grow, {"writeCells": {}}), 400, "Unknown name \"writeCells\" at 'requests[1]'")
    missing = {"appendDimension": {"sheetId": 424242, "dimension": "ROWS", "length": 5}}
    refused(structure(grow, missing), 400, "Invalid requests[1].appendDimension: No grid with id: 424242")
    assert tab.row_count == 10  # the first request was not applied either


@responses.activate
def test_a_drop_down_past_the_grid_is_refused_unless_the_grid_grows_first_in_the_same_batch() -> None:
    fake = sheet()
    tab = fake.tabs["People"]
    rule = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "open"}]}}
    drop_down = {
        "setDataValidation": {
            "range": {"sheetId": tab.sheet_id, "startRowIndex": 1, "endRowIndex": 15, "startColumnIndex": 1},
            "rule": rule,
        }
    }
    refused(structure(drop_down), 400, "GridRange.endRowIndex[15] is after last row in grid[9]")
    grow = {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "ROWS", "length": 5}}
    assert structure(grow, drop_down).status_code == 200
    assert tab.row_count == 15


@responses.activate
def test_the_61st_read_in_a_minute_is_a_429_resource_exhausted_and_writes_count_apart() -> None:
    """Google's per-user quota: 60 read and 60 write requests a minute, a batch counting as one."""
    fake = sheet()
    now = [1000.0]
    fake.clock = lambda: now[0]
    for _ in range(60):
        assert requests.get(f"{API}/{KEY}", headers=BEARER).status_code == 200
    over = requests.get(f"{API}/{KEY}", headers=BEARER)
    assert over.status_code == 429
    assert over.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "'Read requests per minute per user'" in over.json()["error"]["message"]
    assert values_update([{"range": "'People'!C1", "values": [["x"]]}]).status_code == 200
    now[0] += 60.0
    assert requests.get(f"{API}/{KEY}", headers=BEARER).status_code == 200


@responses.activate
def test_a_request_body_over_10_mb_is_refused_and_nothing_of_it_written() -> None:
    fake = sheet()
    fake.add_tab("Big", rows=400, cols=26)
    rows = [["y" * 1100] * 26 for _ in range(370)]  # some 10.6 MB as JSON
    refused(
        values_update([{"range": "'People'!C1", "values": [["x"]]}, {"range": "'Big'!A1", "values": rows}]),
        400,
        "Request payload size exceeds the limit: 10485760 bytes.",
    )
    assert fake.tabs["People"].cell(1, 3) == "" and fake.tabs["Big"].trimmed() == []


@responses.activate
def test_a_user_entered_write_is_parsed_as_typing_is_and_only_raw_keeps_the_text() -> None:
    """Old fake: USER_ENTERED kept the text as sent, so a connector writing untrusted text that way
    (a name starting with "=" becomes a formula in Sheets) looked as safe as RAW."""
    fake = sheet()

    def write(option: str, values: list[str]) -> None:
        body = {"valueInputOption": option, "data": [{"range": "'People'!A3", "values": [values]}]}
        assert requests.post(f"{API}/{KEY}/values:batchUpdate", json=body, headers=BEARER).status_code == 200

    write("USER_ENTERED", ['=HYPERLINK("http://evil.example","click")', "007", "Sam"])
    tab = fake.tabs["People"]
    assert tab.formulas == {(3, 1): '=HYPERLINK("http://evil.example","click")'}
    assert [tab.cell(3, c) for c in (1, 2, 3)] == ["", "7", "Sam"]
    write("RAW", ['=HYPERLINK("http://evil.example","click")', "007", "Sam"])
    assert tab.formulas == {} and [tab.cell(3, c) for c in (1, 2, 3)] == [
        '=HYPERLINK("http://evil.example","click")',
        "007",
        "Sam",
    ]


@responses.activate
def test_a_refusal_is_answered_once_in_googles_shape_with_the_field_it_names() -> None:
    fake = sheet()
    fake.refuse("values:batchUpdate", "Invalid data[0].range: x", field="data[0].range")

    first = values_update([{"range": "'People'!C1", "values": [["x"]]}])
    again = values_update([{"range": "'People'!C1", "values": [["x"]]}])

    assert first.status_code == 400
    assert first.json() == {
        "error": {
            "code": 400,
            "message": "Invalid data[0].range: x",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {"field": "data[0].range", "description": "Invalid data[0].range: x"}
                    ],
                }
            ],
        }
    }
    assert fake.tabs["People"].cell(1, 3) == "x" and again.status_code == 200
