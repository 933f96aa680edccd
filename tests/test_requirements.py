"""A plain `pip install .` (no dev extras) runs every `dd` command (issue 28, item 6): every module that dd_nb or a
notebook `dd reproduce` executes imports is brought by settings.ini's `requirements` or their own dependencies."""
import ast, configparser, json, re, sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires

from conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[=<>!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(names) -> set:
    "The distributions `names` install: themselves and, recursively, their unconditional dependencies."
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n in seen: continue
        seen.add(n)
        try: deps = requires(n) or []
        except PackageNotFoundError: continue
        todo += [_name(d) for d in deps if "extra ==" not in d]
    return seen


def _imports(source: str) -> set:
    "Top-level modules imported anywhere in `source` (IPython magics dropped)."
    tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
    mods = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import): mods |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module: mods.add(n.module.split(".")[0])
    return mods


def test_run_time_imports_are_requirements():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/"settings.ini")
    have = _closure(_name(r) for r in cfg["DEFAULT"]["requirements"].split())
    sources = [p.read_text() for p in (ROOT/"dd_nb").glob("*.py")]
    for yaml_file in (ROOT/"experiments").glob("*.yaml"):   # the notebooks `dd reproduce` runs, every cell
        nb = json.loads((ROOT/"nbs"/f"{yaml_file.stem}.ipynb").read_text())
        sources += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    mods = set().union(*map(_imports, sources)) - set(sys.stdlib_module_names) - {"dd_nb", "__future__"}
    dists = packages_distributions()
    missing = {m: dists.get(m) for m in mods if not {_name(d) for d in dists.get(m, [m])} & have}
    assert not missing, f"imported at run time but not installed by `requirements` (only by dev extras or by hand): {missing}"
