"""The README's "A short tour", run line by line as a new user would run it from a checkout.

The tour is the first thing a new user runs, so every line of its shell block must work: the
test reads the block from README.md (not a copy of it), runs each `stocksbot ...` line in
process through Click's runner (the same `cli` the console script calls, with the line split
as a POSIX shell splits it, `$NAME` expanded from the tour's own `export`s), and requires exit
status 0 from every line. A line the runner cannot run faithfully (a pipe, another program)
fails the test, so the tour stays plain stocksbot commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocksbot.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def tour_lines(readme: str) -> list[str]:
    """The command lines of the ```sh block(s) under "## A short tour", comments and blanks dropped,
    backslash continuations joined."""
    section = readme.split("## A short tour", 1)[1]
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        pending = ""
        for raw in block.splitlines():
            text = pending + raw
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            if text.strip() and not text.lstrip().startswith("#"):
                lines.append(text.strip())
    return lines


@dataclass
class Shell:
    """Just enough of a POSIX shell for the tour: `export`, `unset`, `$NAME` and quoting."""

    temp: Path
    env: dict[str, str] = field(default_factory=dict)

    def expand(self, text: str) -> str:
        return _VARIABLE.sub(lambda m: self.env.get(m["braced"] or m["plain"], ""), text)

    def words(self, line: str) -> list[str]:
        return shlex.split(self.expand(line), comments=True)

    def export(self, assignment: str) -> None:
        name, _, value = assignment.partition("=")
        if value.split("#", 1)[0].strip() == "$(mktemp -d)":
            folder = self.temp / f"mktemp-{len(self.env)}"
            folder.mkdir()
            self.env[name] = str(folder)
        else:
            (self.env[name],) = self.words(value)


def run_tour(lines: list[str], temp: Path) -> list[tuple[str, str]]:
    """Run every line; return (line, stdout) pairs. Fails on the first line that does not exit 0."""
    shell = Shell(temp)
    runner = CliRunner()
    outputs: list[tuple[str, str]] = []
    for line in lines:
        head, _, rest = line.partition(" ")
        if head == "export":
            shell.export(rest)
            continue
        if head == "unset":
            for name in shell.words(rest):
                shell.env.pop(name, None)
            continue
        assert head == "stocksbot", f"the tour may only run stocksbot, export and unset: {line!r}"
        assert shell.env.get("STOCKSBOT_HOME"), f"{line!r} would run on the user's real database"
        # Only the tour's own variables: none of the test process's database settings leak in.
        env = {"STOCKSBOT_HOME": shell.env["STOCKSBOT_HOME"], "DATABASE_URL": None}
        result = runner.invoke(cli, shell.words(line)[1:], env=env, prog_name="stocksbot")
        assert result.exit_code == 0, f"{line!r} exited {result.exit_code}:\n{result.output}{result.exception!r}"
        outputs.append((line, result.output))
    return outputs


def checkout_files() -> list[str]:
    """The checkout's top level, without the dot folders tools make while tests run (.hypothesis)."""
    return sorted(p.name for p in REPO.iterdir() if not p.name.startswith("."))


def output_of(outputs: list[tuple[str, str]], start: str, nth: int = 0) -> str:
    return [text for line, text in outputs if line.startswith(start)][nth]


def test_the_tour_reads_its_lines_from_the_readme() -> None:
    lines = tour_lines((REPO / "README.md").read_text(encoding="utf-8"))
    first, last = (line.split("#", 1)[0].strip() for line in (lines[0], lines[-1]))
    assert first == "export STOCKSBOT_HOME=$(mktemp -d)", "the tour must start on a throwaway database"
    assert last == "unset STOCKSBOT_HOME"
    assert len([line for line in lines if line.startswith("stocksbot ")]) > 50
    for line in lines:
        for word in shlex.split(line, comments=True):
            if word.startswith("examples/"):
                assert (REPO / word).is_file(), f"{line!r} names a file the repository does not ship"


@pytest.mark.slow
def test_the_readme_tour_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # "from the repository folder", as the README says
    real_home = tmp_path / "real-home"
    monkeypatch.setenv("STOCKSBOT_HOME", str(real_home))  # stands in for the user's own data folder
    before = checkout_files()
    outputs = run_tour(tour_lines((REPO / "README.md").read_text(encoding="utf-8")), tmp_path)

    assert not real_home.exists(), "the tour wrote into the user's own data folder"
    assert checkout_files() == before, "the tour left files in the checkout"
    tour_home = tmp_path / "mktemp-0"
    assert (tour_home / "stocksbot.db").is_file()

    assert "realized 41" in output_of(outputs, "stocksbot trade add sell AAPL 4")
    csv_head = output_of(outputs, "stocksbot trade list --csv").splitlines()[0]
    assert csv_head.startswith("id,executed,side,symbol,quantity,price")
    assert "imported 10 bar(s)" in output_of(outputs, "stocksbot price import examples/aapl.csv")
    assert "imported 5" in output_of(outputs, "stocksbot trade import examples/fills.csv", 1)
    assert "skipped 5" in output_of(outputs, "stocksbot trade import examples/fills.csv", 2)
    assert (tour_home / "trades.csv").read_text().startswith("executed_at,side,symbol,quantity,price")
    assert (tour_home / "ledger.beancount").stat().st_size > 0
    assert (tour_home / "copy.db").is_file()
    latest = output_of(outputs, "stocksbot price latest AAPL NVDA")
    assert "58.4" in latest and "134.29" in latest
    assert "ok" in output_of(outputs, "stocksbot db check").lower()
