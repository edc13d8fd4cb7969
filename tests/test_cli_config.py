"""`stocksbot config ...` through Click's runner: exit codes and exact output, on both backends."""

from __future__ import annotations

import json

import pytest


def test_set_get_list_unset(run) -> None:
    result = run("config", "set", "bot.max_orders", "12", "--type", "int", "--description", "per day")
    assert (result.exit_code, result.output) == (0, "bot.max_orders = 12 (int)\n")
    assert run("config", "get", "bot.max_orders").output == "12\n"
    assert run("config", "set", "trading.allow_short", "TRUE").output == "trading.allow_short = true (bool)\n"
    assert run("config", "get", "trading.allow_short").output == "true\n"
    run("config", "set", "bot.universe", '["AAPL", "MSFT"]', "--type", "json")
    assert run("config", "get", "bot.universe").output == '["AAPL","MSFT"]\n'

    listed = json.loads(run("--json", "config", "list").output)
    assert [(i["key"], i["value"], i["type"]) for i in listed] == [
        ("accounting.cost_basis", "fifo", "string"),
        ("accounts.default", "main", "string"),
        ("bot.max_orders", 12, "int"),
        ("bot.universe", ["AAPL", "MSFT"], "json"),
        ("trading.allow_short", True, "bool"),
    ]
    assert listed[2]["description"] == "per day"

    assert run("config", "unset", "bot.max_orders").exit_code == 0
    result = run("config", "get", "bot.max_orders")
    assert result.exit_code == 1
    assert result.output == "Error: config key 'bot.max_orders' is not set (see `stocksbot config list`)\n"


def test_bare_group_lists(run) -> None:
    result = run("config")
    assert result.exit_code == 0
    assert "accounting.cost_basis" in result.output and "fifo (default)" in result.output


def test_json_get_is_an_object(run) -> None:
    run("config", "set", "bot.ratio", "0.5", "--type", "float")
    assert json.loads(run("--json", "config", "get", "bot.ratio").output) == {
        "key": "bot.ratio", "value": 0.5, "type": "float", "description": None, "is_default": False,
    }


@pytest.mark.parametrize(
    "args,message",
    [
        (["config", "set", "bot.n", "x", "--type", "int"], "Error: bot.n needs a whole number (int), got 'x'\n"),
        (["config", "set", "bot.f", "nan", "--type", "float"], "Error: bot.f needs a finite number (float), got 'nan'\n"),
        (["config", "set", "bot.b", "maybe", "--type", "bool"], "Error: bot.b needs true or false (bool), got 'maybe'\n"),
        (["config", "set", "accounting.cost_basis", "hifo"],
         "Error: accounting.cost_basis must be one of fifo, lifo, average, got 'hifo'\n"),
        (["config", "set", "Bad.Key", "1"],
         "Error: invalid config key 'Bad.Key': use lower-case words joined by dots, e.g. trading.allow_short\n"),
        (["config", "unset", "bot.none"], "Error: config key 'bot.none' is not set\n"),
    ],
)
def test_refusals_are_one_line_exit_1_and_write_nothing(run, args: list[str], message: str) -> None:
    before = run("--json", "config", "list").output
    result = run(*args)
    assert (result.exit_code, result.output) == (1, message)
    assert run("--json", "config", "list").output == before


def test_bad_json_value_names_the_problem(run) -> None:
    result = run("config", "set", "bot.j", "{oops", "--type", "json")
    assert result.exit_code == 1
    assert result.output.startswith("Error: bot.j needs valid JSON (json), got '{oops': ")
    assert result.output.count("\n") == 1


def test_click_usage_errors_keep_exit_2(run) -> None:
    result = run("config", "set", "bot.x", "1", "--type", "decimal")
    assert result.exit_code == 2
    assert "Invalid value for '--type'" in result.output
