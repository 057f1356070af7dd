"""The layout's rules, read from the source with `ast`: no import circles, and dependencies pointing one way.

Every import counts, at module level or inside a function (and under `if TYPE_CHECKING:`): a function-local
import runs too, only later. Each wing's `__init__.py` docstring states its rule; these tests hold the code to it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "schemas", "worker", "api", "tasks", "sandbox")
HTTP_FRAMEWORKS = ("flask", "flask_smorest", "werkzeug", "gunicorn")
CELERY = ("celery", "kombu")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


MODULES = _modules()


def _imported_names(path: Path, module: str, known: set[str] | dict = MODULES) -> set[str]:
    """Every module `module` imports (relative imports resolved), at any depth.

    `from a import b` imports module `a.b` when `known` has one, else the name `b` of module `a`.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    return names


def _giftq_imports(module: str) -> set[str]:
    """The giftq modules `module` imports."""
    return {name for name in _imported_names(MODULES[module], module) if name in MODULES} - {module}


def _third_party_imports(module: str) -> set[str]:
    return {name.split(".")[0] for name in _imported_names(MODULES[module], module)} - set(PACKAGES)


GRAPH = {module: _giftq_imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _in(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _breaking(selected: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """For each module under `selected`, the giftq modules it imports outside `allowed`."""
    broken = {}
    for module, imports in GRAPH.items():
        if _in(module, selected):
            outside = sorted(name for name in imports if not _in(name, selected, *allowed))
            if outside:
                broken[module] = outside
    return broken


def test_the_checker_finds_a_circle_through_a_function_local_import(tmp_path):
    # Given two modules that import each other, one of them only inside a function
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    import a\n")
    # When their imports are read and the graph searched
    graph = {name: _imported_names(tmp_path / f"{name}.py", name, known={"a", "b"}) for name in "ab"}
    # Then the circle is found
    assert _cycles(graph) == [["a", "b"]]


def test_no_module_of_giftq_imports_itself_back_in_a_circle():
    assert _cycles(GRAPH) == []


def test_config_imports_nothing_of_giftq_but_config():
    assert _breaking("config", ()) == {}


def test_schemas_import_only_schemas_config_and_the_state_names():
    # The state names are constants (worker/orders/states.py imports nothing); the API's schemas list them.
    assert _breaking("schemas", ("config", "worker.orders.states")) == {}


def test_the_throttle_knows_limits_and_redis_not_providers_tasks_or_http():
    assert _breaking("worker.throttle", ("config", "worker.errors", "worker.keys", "worker.scripts")) == {}
    for module in (name for name in MODULES if _in(name, "worker.throttle")):
        assert not _third_party_imports(module) & {"requests", *HTTP_FRAMEWORKS, *CELERY}, module


def test_providers_know_http_and_giftqs_types_not_tasks_store_or_throttle():
    assert _breaking("worker.providers", ("config", "worker.errors")) == {}
    for module in (name for name in MODULES if _in(name, "worker.providers")):
        assert not _third_party_imports(module) & {"redis", *CELERY, *HTTP_FRAMEWORKS}, module


def test_orders_never_import_the_app_tasks_the_throttle_or_a_provider_client():
    allowed = ("config", "schemas", "worker.errors", "worker.keys", "worker.scripts", "worker.providers.base")
    assert _breaking("worker.orders", allowed) == {}
    for module in (name for name in MODULES if _in(name, "worker.orders")):
        assert not _third_party_imports(module) & {"celery", *HTTP_FRAMEWORKS}, module


def test_the_top_of_worker_stands_in_one_direction_app_then_runtime_then_wings():
    # The task base class, errors, redaction, keys, metrics and the Lua loader import no wing and no app.
    # The broker's transport counts deliveries for the task base class.
    leaves = ("worker.delivery", "worker.errors", "worker.redaction", "worker.keys", "worker.scripts", "worker.metrics",
              "worker.broker")  # fmt: skip
    for module in leaves:
        assert GRAPH[module] <= {"config.settings", "worker.errors", "worker.keys", "worker.redaction",
                                 "worker.metrics", "worker.broker", "worker.scripts"}, module  # fmt: skip
    assert "worker.celery" not in GRAPH["worker.runtime"]
    assert not any(_in(name, "tasks", "api", "worker.cli") for name in GRAPH["worker.runtime"])
    assert not any(_in(name, "tasks", "api", "worker.cli") for name in GRAPH["worker.celery"])


def test_the_command_line_and_the_api_are_imported_by_nothing_but_the_command_line():
    for module, imports in GRAPH.items():
        if not _in(module, "worker.cli"):
            assert not any(_in(name, "worker.cli") for name in imports), module
        if not _in(module, "worker.cli", "api"):
            assert not any(_in(name, "api") for name in imports), module


def test_the_sandbox_is_a_provider_not_a_part_of_giftq():
    assert _breaking("sandbox", ()) == {}


TASK_CALLS = {"apply_async", "delay", "s", "si", "signature", "chain", "group", "chord", "retry"}
# giftq task names written outside tasks/, each for a reason of its own.
SENT_BY_NAME_OUTSIDE_TASKS = {
    ("worker.runtime", "giftq.notify"),  # the store's hook when an order becomes final (runtime.py)
    ("worker.cli.demo", "giftq.submit_order"),  # the demo is a producer, and sends as one
    ("worker.delivery", "giftq.submit_order"),  # not sent: the one task an intake queue lets in
}


def _task_names() -> set[str]:
    names = set()
    for module in (name for name in MODULES if _in(name, "tasks")):
        names.update(re.findall(r"""name=["'](giftq\.[a-z_]+)["']""", MODULES[module].read_text()))
    return names


def test_only_tasks_chain_celery_tasks():
    task_names = _task_names()
    assert {"giftq.place_order", "giftq.poll_order", "giftq.notify"} <= task_names
    for module, path in MODULES.items():
        if _in(module, "tasks", "config"):  # config names the queues, routes and schedules them
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in TASK_CALLS or not _calls_a_task(node), (module, node.lineno)
            if isinstance(node, ast.Constant) and node.value in task_names:
                assert (module, node.value) in SENT_BY_NAME_OUTSIDE_TASKS, (module, node.value, node.lineno)


def _calls_a_task(node: ast.Call) -> bool:
    """`x.apply_async(...)`/`x.delay(...)`/...: Celery's calling API (`re.match(...).group(1)` is not)."""
    return node.func.attr in {"apply_async", "delay", "si", "signature", "chord"} or (
        node.func.attr in {"s", "chain", "group", "retry"}
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"self", "task", "celery", "app"}
    )


@pytest.mark.parametrize("package", ["worker.orders", "worker.throttle", "worker.providers", "worker.cli", "api"])
def test_each_wing_says_what_it_owns_and_what_it_may_import(package):
    docstring = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    assert re.search(r"\bimport", docstring) and len(docstring.split()) >= 30, package
