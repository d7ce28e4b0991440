"""What `trading dev` makes of file changes: watched or not, changed or not,
which modules reload, when a reload loop stops, how a load error reads.

Pure decisions, tested without processes; tests/test_dev.py runs the real loop.
"""

from pathlib import Path

import pytest

from trading_cli.dev.build_queue import BuildQueue
from trading_cli.dev.changes import ChangeClassifier, ContentIndex, Plan, WatchFilter
from trading_cli.dev.failure import describe_failure
from trading_cli.dev.loop_guard import LoopGuard, Verdict
from trading_cli.project import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project tree with modules core, broker (with tests) and a model file."""
    package = tmp_path / "src" / "trading_api"
    for path in [
        "__init__.py",
        "models/broker.py",
        "shared/hub.py",
        "modules/__init__.py",
        "modules/core/__init__.py",
        "modules/broker/__init__.py",
        "modules/broker/api.py",
        "modules/broker/tests/test_api.py",
    ]:
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text(f"# {path}\n")
    (tmp_path / "templates" / "module").mkdir(parents=True)
    return Project(tmp_path)


def watched(project: Project) -> WatchFilter:
    return WatchFilter([project.package_dir, project.templates_dir])


@pytest.mark.parametrize(
    "relative",
    [
        "modules/broker/ws_generated/orders_router.py",
        "modules/broker/client_generated/sub/client.py",
        "specs_generated/openapi.json",
        "modules/broker/__pycache__/api.cpython-311.pyc",
        "modules/broker/.api.py.swp",
        "modules/broker/api.py~",
        "modules/broker/.#api.py",
        "modules/broker/4913",
        "modules/broker/api.py___jb_tmp___",
        "modules/broker/specs_generated/.broker_openapi.json.x1.tmp",
    ],
)
def test_generated_caches_and_editor_files_are_not_watched(
    project: Project, relative: str
) -> None:
    assert not watched(project).is_watched(project.package_dir / relative)


def test_source_files_are_watched_even_below_a_generated_looking_root(
    tmp_path: Path,
) -> None:
    project = Project(tmp_path / "work_generated" / ".venv" / "checkout")
    path = project.package_dir / "modules" / "broker" / "api.py"

    assert watched(project).is_watched(path)
    assert not watched(project).is_watched(tmp_path / "elsewhere.py")


def test_saving_identical_bytes_is_no_change(project: Project) -> None:
    index = ContentIndex(watched(project))
    index.scan()
    api = project.modules_dir / "broker" / "api.py"

    api.write_text(api.read_text())
    unchanged = index.update([api])
    api.write_text("# edited\n")

    assert unchanged == []
    assert index.update([api]) == [api]


def test_a_deleted_folder_changes_every_file_it_held(project: Project) -> None:
    index = ContentIndex(watched(project))
    index.scan()
    broker = project.modules_dir / "broker"
    files = sorted(p for p in broker.rglob("*") if p.is_file())

    for path in files:
        path.unlink()
    for folder in sorted(broker.rglob("*"), reverse=True):
        folder.rmdir()
    broker.rmdir()

    assert index.update([broker]) == files


def plan_for(project: Project, served: set[str] | None, *relative: str) -> Plan:
    classifier = ChangeClassifier(project)
    changes = classifier.classify(project.package_dir / r for r in relative)
    return changes.plan(
        None if served is None else frozenset(served), classifier.module_names()
    )


def test_module_edit_reloads_and_rebuilds_that_module(project: Project) -> None:
    plan = plan_for(project, None, "modules/broker/api.py")

    assert plan.reload
    assert plan.codegen == ("broker",)
    assert plan.build == ("broker",)


def test_module_test_edit_needs_nothing(project: Project) -> None:
    assert plan_for(project, None, "modules/broker/tests/test_api.py").idle


def test_shared_model_edit_reloads_and_rebuilds_every_module(project: Project) -> None:
    plan = plan_for(project, {"core"}, "models/broker.py")

    assert plan.reload
    assert plan.codegen is None
    assert plan.build is None


def test_edit_of_a_module_not_served_rebuilds_without_reload(project: Project) -> None:
    plan = plan_for(project, {"core"}, "modules/broker/api.py")

    assert not plan.reload
    assert plan.build == ("broker",)


def test_new_module_package_reloads_a_server_of_every_module(
    project: Project,
) -> None:
    classifier = ChangeClassifier(project)
    init = project.modules_dir / "market_data" / "__init__.py"
    init.parent.mkdir()
    init.write_text("")

    changes = classifier.classify([init])

    assert changes.modules_moved
    assert changes.modules == {"market-data"}
    assert changes.plan(None, classifier.module_names()).reload


def test_template_edit_reloads_nothing_and_is_listed(project: Project) -> None:
    classifier = ChangeClassifier(project)
    template = project.templates_dir / "module" / "api.py.jinja"
    template.write_text("")

    changes = classifier.classify([template])

    assert changes.templates == (template,)
    assert changes.plan(None, classifier.module_names()).idle


def test_loop_guard_pauses_on_reloads_caused_by_reloads() -> None:
    guard = LoopGuard(max_reloads=3, window=10.0)
    stamp, verdicts = Path("stamp.txt"), []
    for n in range(5):
        guard.reload_started(n, at=n + 0.0)
        guard.reload_finished(n, at=n + 0.1)
        verdicts.append(guard.judge({stamp: n + 0.05}, now=n + 0.2))

    assert verdicts[:3] == [Verdict.RELOAD] * 3
    assert verdicts[3] is Verdict.PAUSE
    assert guard.culprit == stamp
    assert verdicts[4] is Verdict.IGNORE


def test_loop_guard_never_stops_edits_made_between_reloads() -> None:
    guard = LoopGuard(max_reloads=3, window=10.0)
    api = Path("api.py")
    for n in range(10):
        guard.reload_started(n, at=n + 0.0)
        guard.reload_finished(n, at=n + 0.1)
        assert guard.judge({api: n + 0.8}, now=n + 0.9) is Verdict.RELOAD


def test_loop_guard_lets_different_files_saved_right_after_reloads_through() -> None:
    # A script driving `trading dev` saves the next file as soon as the last
    # reload is told: each save lands in the grace after a reload.
    guard = LoopGuard(max_reloads=3, window=10.0)
    saves = [{Path(f"step{n}.py")} for n in range(6)]
    saves[3] |= {Path("step2.py")}  # one file saved twice in a row is no loop
    verdicts = []
    for n, files in enumerate(saves):
        guard.reload_started(n, at=n + 0.0)
        guard.reload_finished(n, at=n + 0.1)
        verdicts.append(guard.judge(dict.fromkeys(files, n + 0.15), now=n + 0.2))

    assert verdicts == [Verdict.RELOAD] * 6


def test_loop_guard_names_the_file_rewritten_in_every_reload() -> None:
    guard = LoopGuard(max_reloads=2, window=10.0)
    stamp, verdicts = Path("stamp.txt"), []
    for n in range(3):
        guard.reload_started(n, at=n + 0.0)
        guard.reload_finished(n, at=n + 0.1)
        changed = {stamp: n + 0.05, Path(f"other{n}.py"): n + 0.05}
        verdicts.append(guard.judge(changed, now=n + 0.2))

    assert verdicts == [Verdict.RELOAD, Verdict.RELOAD, Verdict.PAUSE]
    assert guard.culprit == stamp
    assert guard.judge({stamp: 3.05}, now=3.2) is Verdict.IGNORE


def test_paused_loop_guard_resumes_when_another_file_changes() -> None:
    guard = LoopGuard(max_reloads=1, window=10.0)
    stamp = Path("stamp.txt")
    for n in range(2):
        guard.reload_started(n, at=n + 0.0)
        guard.reload_finished(n, at=n + 0.1)
        guard.judge({stamp: n + 0.05}, now=n + 0.2)

    assert guard.judge({Path("api.py"): 5.0}, now=5.1) is Verdict.RELOAD


def test_syntax_error_is_told_with_file_line_and_caret(tmp_path: Path) -> None:
    source = tmp_path / "src" / "trading_api" / "modules" / "demo" / "api.py"
    source.parent.mkdir(parents=True)
    source.write_text("def broken(:\n    pass\n")
    try:
        compile(source.read_text(), str(source), "exec")
    except SyntaxError as exc:
        failure = describe_failure(exc, tmp_path)

    assert failure.summary.endswith("at src/trading_api/modules/demo/api.py:1")
    assert (
        "  src/trading_api/modules/demo/api.py:1\n    def broken(:\n" in failure.block
    )
    assert failure.block.rstrip().endswith("SyntaxError: invalid syntax")


def test_reload_cancels_the_running_build_and_takes_over_its_modules() -> None:
    builds = BuildQueue()
    builds.owe(["broker"])
    builds.start(build_id=1)
    builds.owe(["datafeed"])

    assert builds.cancel() == 1
    assert builds.cancel() is None  # stopping it once is enough
    builds.finished(1)
    assert builds.start(build_id=2) == ("broker", "datafeed")
