"""``trading update-module``: template changes merged into scaffolded modules,
with real git commits, on a copy of the project."""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.usefixtures("remember_verdicts")  # see tests/conftest.py
TEMPLATE = Path("templates/module/template")
MODULE = Path("src/trading_api/modules/market_data")
SKIPPED = {
    ".git",
    ".run",
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
}
LIST_DOC = '"""Every item, oldest first."""'

CopyProject = Callable[..., Path]
Git = Callable[..., str]
Cli = Callable[..., Any]


def snapshot(project: Path) -> dict[str, bytes]:
    files = {}
    for folder, dirs, names in os.walk(project):
        dirs[:] = [d for d in dirs if d not in SKIPPED and d != ".ruff_cache"]
        for name in names:
            path = Path(folder, name)
            files[path.relative_to(project).as_posix()] = path.read_bytes()
    return files


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def change_template(git: Git, project: Path, file: str, old: str, new: str) -> str:
    """Edit a template file and commit it; return the commit."""
    edit(project / TEMPLATE / file, old, new)
    git(project, "commit", "-q", "-am", f"Change the template's {file}")
    return git(project, "rev-parse", "HEAD").strip()


def recorded_commit(project: Path) -> str:
    answers = yaml.safe_load((project / MODULE / ".copier-answers.yml").read_text())
    return str(answers["_commit"])


@pytest.fixture(scope="module")
def base(
    market_data_project: Path,
    private_copy: Callable[[Path, Path], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A project copy in git where new-module made market-data, committed."""
    return private_copy(
        market_data_project, tmp_path_factory.mktemp("update") / "project"
    )


@pytest.fixture
def project(base: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`base`, git history included."""
    root = tmp_path / "project"
    shutil.copytree(base, root, ignore=shutil.ignore_patterns(*SKIPPED - {".git"}))
    return root


def test_check_passes_for_modules_made_from_the_current_template(
    base: Path, cli: Cli
) -> None:
    result = cli(base, "update-module", "--all", "--check")
    assert result.code == 0, result.err
    assert "market-data: up to date" in result.out


def test_check_fails_for_a_module_behind_the_template(
    project: Path, cli: Cli, git: Git
) -> None:
    change_template(git, project, "service.py.jinja", LIST_DOC, '"""All items."""')
    before = snapshot(project)
    result = cli(project, "update-module", "market-data", "--check")
    assert result.code == 1
    assert "1 module(s) behind templates/module: market-data" in result.err
    assert "service.py" in result.out
    assert snapshot(project) == before


def test_update_merges_template_change_keeps_local_edits_and_regenerates(
    project: Path, cli: Cli, git: Git
) -> None:
    field = '    name: str = Field(description="Display name.")\n'
    new_field = field + '    note: str = ""\n'
    commit = change_template(git, project, "models.py.jinja", field, new_field)
    edit(project / MODULE / "service.py", LIST_DOC, '"""Local wording."""')
    result = cli(project, "update-module", "market-data", its_modules=True)
    assert result.code == 0, result.err
    assert 'note: str = ""' in (project / MODULE / "models.py").read_text()
    assert '"""Local wording."""' in (project / MODULE / "service.py").read_text()
    assert recorded_commit(project) == commit
    merged = project / "src/trading_api/specs_generated/openapi.json"
    schemas = json.loads(merged.read_text())["components"]["schemas"]
    assert "note" in schemas["MarketDataItem"]["properties"]


def test_conflict_leaves_markers_lists_the_file_and_exits_3(
    project: Path, cli: Cli, git: Git
) -> None:
    change_template(
        git, project, "service.py.jinja", LIST_DOC, '"""Template wording."""'
    )
    edit(project / MODULE / "service.py", LIST_DOC, '"""Local wording."""')
    # In process: with a conflict nothing is regenerated, so the copy's new
    # module is never imported.
    result = cli(project, "update-module", "market-data")
    assert result.code == 3
    assert f"conflict  {MODULE}/service.py" in result.out
    assert "resolve the <<<<<<< markers" in result.err
    service = (project / MODULE / "service.py").read_text()
    assert "<<<<<<< market-data (local)" in service
    assert '"""Local wording."""' in service
    assert '"""Template wording."""' in service


def test_uncommitted_template_change_is_refused(project: Path, cli: Cli) -> None:
    edit(project / TEMPLATE / "service.py.jinja", LIST_DOC, '"""All items."""')
    before = snapshot(project)
    result = cli(project, "update-module", "market-data")
    assert result.code == 1
    assert "commit templates/module first" in result.err
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the modules to update, or pass --all"),
        (["market-data", "--all"], "not both"),
        (["datafeed"], "module 'datafeed' was not made by `trading new-module`"),
        (["order-book"], "unknown module 'order-book'"),
    ],
    ids=["nothing", "both", "hand-written", "unknown"],
)
def test_bad_arguments_are_usage_errors(
    base: Path, args: list[str], message: str, cli: Cli
) -> None:
    result = cli(base, "update-module", *args)
    assert result.code == 2
    assert message in result.err


def make_conflict(project: Path, git: Git, cli: Cli) -> str:
    """Leave market-data with a conflict in service.py; return the old commit."""
    old = recorded_commit(project)
    change_template(
        git, project, "service.py.jinja", LIST_DOC, '"""Template wording."""'
    )
    edit(project / MODULE / "service.py", LIST_DOC, '"""Local wording."""')
    assert cli(project, "update-module", "market-data").code == 3
    return old


def test_a_module_with_conflicts_stays_behind_until_they_are_resolved(
    project: Path, cli: Cli, git: Git
) -> None:
    old = make_conflict(project, git, cli)
    answers = yaml.safe_load((project / MODULE / ".copier-answers.yml").read_text())

    result = cli(project, "update-module", "market-data", "--check")

    assert result.code == 1
    assert f"unresolved conflicts from an earlier update in {MODULE}/service.py" in (
        result.out
    )
    assert answers["_conflicts"] == {"service.py": old}


def test_update_refuses_to_go_on_while_markers_remain(
    project: Path, cli: Cli, git: Git
) -> None:
    make_conflict(project, git, cli)
    before = snapshot(project)
    result = cli(project, "update-module", "market-data")
    assert result.code == 3
    assert "still has conflict markers" in result.out
    assert snapshot(project) == before


def test_resolving_the_markers_and_updating_again_records_the_resolution(
    project: Path, cli: Cli, git: Git
) -> None:
    make_conflict(project, git, cli)
    service = project / MODULE / "service.py"
    text = service.read_text()
    start, end = text.index("<<<<<<<"), text.index(">>>>>>>")
    end = text.index("\n", end) + 1
    service.write_text(text[:start] + 8 * " " + '"""Both wordings."""\n' + text[end:])

    result = cli(project, "update-module", "market-data", its_modules=True)
    check = cli(project, "update-module", "market-data", "--check")

    assert result.code == 0, result.err
    assert "recorded the resolved conflicts" in result.out
    assert check.code == 0, check.out + check.err
    answers = (project / MODULE / ".copier-answers.yml").read_text()
    assert "_conflicts" not in answers
    specs = cli(project, "specs", "build", "--check", its_modules=True)
    assert specs.code == 0, specs.out + specs.err


def test_a_commit_that_is_an_option_never_reaches_git(project: Path, cli: Cli) -> None:
    victim = project / "victim.txt"
    victim.write_text("precious\n")
    answers = project / MODULE / ".copier-answers.yml"
    text = answers.read_text()
    commit = recorded_commit(project)
    answers.write_text(text.replace(commit, f"--output={victim}"))

    result = cli(project, "update-module", "market-data", "--check")

    assert result.code == 2
    assert "_commit must be a full git commit (40 hex digits)" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("with_ws: true", "with_ws: 5", "with_ws must be true/false (got 5)"),
        ("_manifest:", "_manifest: 5\nunused:", "_manifest must map file paths"),
        ("name: market-data", "name: ../../x", "looks like a path"),
        ("name: market-data", "name: market-data\nname: x", "duplicate key 'name'"),
        ("name: market-data", "name: [market-data", "line "),
        ('api_prefix: "/api/v1"', 'api_prefix: "/api/v2"', "api_prefix is '/api/v2'"),
    ],
    ids=["bool", "manifest", "path", "duplicate", "syntax", "prefix"],
)
def test_a_broken_module_answers_file_is_one_line_and_exit_2(
    project: Path, cli: Cli, old: str, new: str, message: str
) -> None:
    answers = project / MODULE / ".copier-answers.yml"
    edit(answers, old, new)
    result = cli(project, "update-module", "market-data", "--check")
    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert result.err.count("\n") == 1
    assert "unexpected" not in result.err
