"""The shape of the code, checked: no import cycle among rra's modules, one exception root."""

import ast
import importlib
import inspect
import pkgutil

import rra
from conftest import ROOT
from rra.errors import RraError


def modules():
    """{module name: path} of every module of rra."""
    out = {}
    for path in (ROOT / "rra").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name, path, known):
    """The rra modules a module imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            subs = [target + "." + a.name for a in node.names if target + "." + a.name in known]
            found.update(subs if subs and len(subs) == len(node.names) else [target] + subs)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def test_no_import_cycle_among_rras_modules():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    state = {}  # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [name, other]))
            if other not in state:
                visit(other, path + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_every_error_rra_raises_has_one_root():
    strays = []
    for info in pkgutil.walk_packages(rra.__path__, "rra."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and issubclass(cls, Exception)
                and not issubclass(cls, RraError)
                and not name.startswith("_")
            ):
                strays.append("%s.%s" % (module.__name__, name))
    assert not strays, "errors outside rra.errors.RraError: %s" % ", ".join(strays)
