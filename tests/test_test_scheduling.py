"""How a full ``trading test`` hands out its test files: the project's pytest
plugin records how long each file took and runs the longest files first next
time (pytest runs in process here, ``pytester``)."""

import json
from pathlib import Path

import pytest

from trading_cli.testing import DURATIONS_FILE as DURATIONS

pytest_plugins = ["pytester"]

PLUGIN = "trading_cli.testing.pytest_plugin"


@pytest.fixture
def three_files(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with three test files of two tests each, every test passing."""
    for name in ("alpha", "beta", "gamma"):
        pytester.makepyfile(
            **{
                f"test_{name}": f"def test_{name}_one():\n    pass\n\n\n"
                f"def test_{name}_two():\n    pass\n"
            }
        )
    return pytester


def run_order(pytester: pytest.Pytester) -> list[str]:
    """The tests in the order they ran, by name."""
    result = pytester.runpytest_inprocess(
        "--disable-plugin-autoload", "-p", PLUGIN, "-v"
    )
    result.assert_outcomes(passed=6)
    return [
        line.split("::", 1)[1].split(" ", 1)[0]
        for line in result.outlines
        if "::" in line and "PASSED" in line
    ]


def write_durations(pytester: pytest.Pytester, durations: object) -> None:
    path = pytester.path / DURATIONS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(durations))


def test_longest_recorded_file_runs_first_and_keeps_its_own_order(
    three_files: pytest.Pytester,
) -> None:
    write_durations(
        three_files, {"test_alpha.py": 1.5, "test_beta.py": 0.2, "test_gamma.py": 9.0}
    )

    assert run_order(three_files) == [
        "test_gamma_one",
        "test_gamma_two",
        "test_alpha_one",
        "test_alpha_two",
        "test_beta_one",
        "test_beta_two",
    ]


def test_a_file_never_timed_runs_before_every_timed_one(
    three_files: pytest.Pytester,
) -> None:
    write_durations(three_files, {"test_alpha.py": 1.0, "test_gamma.py": 2.0})

    order = run_order(three_files)

    assert order[:2] == ["test_beta_one", "test_beta_two"]
    assert order[2:4] == ["test_gamma_one", "test_gamma_two"]


def test_a_run_records_every_file_it_ran_and_keeps_the_others(
    three_files: pytest.Pytester,
) -> None:
    write_durations(three_files, {"test_gone.py": 3.0, "test_alpha.py": 100.0})

    run_order(three_files)

    recorded = json.loads((three_files.path / DURATIONS).read_text())
    assert set(recorded) == {
        "test_alpha.py",
        "test_beta.py",
        "test_gamma.py",
        "test_gone.py",
    }
    assert recorded["test_gone.py"] == 3.0
    assert recorded["test_alpha.py"] < 100.0  # this run's figure replaced it
    assert all(isinstance(seconds, float) for seconds in recorded.values())


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"test_alpha.py": "slow"}',
        '{"test_alpha.py": NaN}',
        '{"test_alpha.py": 1e999}',
        '{"test_alpha.py": -Infinity}',
        '{"test_alpha.py": -5}',
        '{"test_alpha.py": true}',
        '{"test_alpha.py": 1' + "0" * 400 + "}",
        "[" * 100_000,
    ],
    ids=[
        "not-json",
        "not-an-object",
        "not-a-number",
        "nan",
        "infinity",
        "minus-infinity",
        "negative",
        "boolean",
        "integer-beyond-a-float",
        "nested-too-deep",
    ],
)
def test_an_unreadable_record_keeps_collection_order_and_is_rewritten(
    three_files: pytest.Pytester, content: str
) -> None:
    path = three_files.path / DURATIONS
    path.parent.mkdir()
    path.write_text(content)

    order = run_order(three_files)

    assert order == [
        f"test_{name}_{number}"
        for name in ("alpha", "beta", "gamma")
        for number in ("one", "two")
    ]
    assert set(json.loads(path.read_text())) == {
        "test_alpha.py",
        "test_beta.py",
        "test_gamma.py",
    }


def test_a_full_run_hands_out_files_in_this_order_once_durations_are_recorded(
    tmp_path: Path,
) -> None:
    from trading_cli.testing.steps import parallel_args

    before = parallel_args(tmp_path)
    (tmp_path / DURATIONS).parent.mkdir()
    (tmp_path / DURATIONS).write_text("{}")
    after = parallel_args(tmp_path)

    assert "--no-loadscope-reorder" not in before  # xdist's order: most tests first
    assert after == [*before, "--no-loadscope-reorder"]
    assert before[before.index("--dist") + 1] == "loadfile"
