"""Fill the cells of 50_evaluation's published comparison in several processes before the notebook reads them.

    python scripts/fill_baselines.py --profile fashion &   # start one per core (OMP_NUM_THREADS=1 each)
    python scripts/fill_baselines.py --profile fashion &
    dd reproduce --notebooks 50_evaluation --profile fashion   # reads the stored cells, writes the table

    python scripts/fill_baselines.py --profile fashion --only 'dc_ipc1_*' 'dm_it1000_*'   # these tasks, in this order

The processes share one queue: each task (a table cell, a protocol-check row, the full-data curves) is claimed by creating
`<store>/claims/<profile>/<task>` (exclusive create; a claim whose process has died is taken over), so every core stays
busy until the queue is empty. Every result is stored by what it depends on (`ResultStore("baselines", dataset,
version)`), so a killed run resumes where it stopped, and a copy of each cell's value goes to the profile's committed
store (`results/fashion/store/baselines/`: commit it, and a fresh clone renders the table with `--param fill=false`). Tasks run IPC by IPC, the protocol checks and the full-data curves (under both protocols)
right after the IPC 1 cells: they decide whether the other rows can be trusted.
"""
import argparse, os
from pathlib import Path


def claim(folder: Path, name: str) -> bool:
    "True if this process now owns task `name` (its claim file holds our pid; a dead owner's claim is taken over)."
    folder.mkdir(parents=True, exist_ok=True)
    f = folder/name
    for _ in range(2):
        try:
            fd = os.open(f, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.write(fd, str(os.getpid()).encode()); os.close(fd)
            return True
        except FileExistsError:
            try:
                os.kill(int(f.read_text() or 0), 0); return False          # the owner is alive
            except (ProcessLookupError, ValueError): f.unlink(missing_ok=True)   # the owner died: take the task over
            except FileNotFoundError: pass                                 # released meanwhile: try again
    return False


def tasks(p: dict, store, train, test) -> list:
    "[(name, thunk)] of a profile: every cell IPC by IPC, the protocol check of each IPC, the full curves after IPC 1."
    from dd_nb.evaluation import baseline_cells, baseline_cell, cell_params, full_curve_cell
    kw = dict(arch=p.get("arch", "convnet3"), protocol=p["protocol"], runs=p["runs"], epochs=p.get("epochs"), eval_seed=p.get("seed", 0))
    mp, check = p.get("method_params", {}), p.get("check_protocol") or {}
    own = p.get("method_protocols") or {}    # e.g. DSA and DM under the `dsa` protocol, as their authors evaluated them
    def cell(m, ipc, s, **over):
        return lambda: baseline_cell(store, train, test, m, ipc, s, cell_params(mp, m, ipc), **{**kw, **({"protocol": own[m]} if m in own else {})}, **over)
    def budget_cell(m, it, s):
        params = {**cell_params(mp, m, 1), "iterations": it}
        return lambda: baseline_cell(store, train, test, m, 1, s, params, **{**kw, **({"protocol": own[m]} if m in own else {})})
    def curve(**over): return lambda: full_curve_cell(store, train, test, kw["arch"], kw["protocol"], p["full_epochs"], kw["eval_seed"], **over)
    out = []
    for n_ipc, ipc in enumerate(p["ipcs"]):
        out += [(f"{m}_ipc{ipc}_s{s}", cell(m, ipc, s)) for m, i, s in baseline_cells(p["methods"], [ipc], p["seeds"])]
        if check: out.append((f"check_random_ipc{ipc}", cell("random", ipc, p["seeds"][0], **check)))
        if n_ipc == 0: out += [("full_curve", curve())] + ([("check_full_curve", curve(**check))] if check else [])
        if ipc == 1:                             # the budget curve's cells (the main table's budget is already there)
            for m, its in (p.get("budget_curve") or {}).items():
                out += [(f"{m}_it{it}_ipc1_s{s}", budget_cell(m, it, s)) for it in its for s in p["seeds"]]
    return out


def select(named: list, patterns: list | None) -> list:
    "The tasks whose names match `patterns` (shell globs), pattern by pattern in the order given; all of them for None."
    from fnmatch import fnmatchcase
    if not patterns: return named
    out = []
    for pat in patterns:
        hits = [t for t in named if fnmatchcase(t[0], pat) and t not in out]
        if not hits: raise SystemExit(f"--only {pat!r} names no task; the tasks are: {', '.join(n for n, _ in named)}")
        out += hits
    return out


def setup(argv, doc: str, default: str, flag: str, store_name: str, options=None) -> tuple:
    "(profile name, its parameters, train, test, store) of a 50_evaluation profile whose `flag` is on, from the command line."
    from dd_nb import __version__
    from dd_nb.reproduce import load_profile, output_dirs
    from dd_nb.core import project_root
    from dd_nb.data import load_dataset
    from dd_nb.results import ResultStore
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--profile", default=default)
    if options: options(ap)
    a = ap.parse_args(argv)
    p = load_profile("50_evaluation", a.profile)
    if not p.get(flag): raise SystemExit(f"profile {a.profile!r} of 50_evaluation does not set {flag}")
    root = (project_root()/"nbs"/p["root"]).resolve() if p.get("root") else None   # a profile's root is relative to nbs/
    train, test = load_dataset(p["dataset"], "train", root=root), load_dataset(p["dataset"], "test", root=root)
    # the values also go to the profile's committed store (results/<dir>/store/), as the notebook's run writes them
    tables, _ = output_dirs(a.profile)
    return a, p, train, test, ResultStore(store_name, p["dataset"], __version__, committed=tables/"store")


def main(argv=None):
    only = lambda ap: ap.add_argument("--only", nargs="+", metavar="GLOB", help="run only the tasks matching these globs, in this order")
    a, p, train, test, store = setup(argv, __doc__, "fashion", "compare_published", "baselines", only)
    claims = store.path/"claims"/a.profile
    for name, run in select(tasks(p, store, train, test), a.only):
        if claim(claims, name):
            print(f"[{os.getpid()}] {name}", flush=True); run()
    print(f"[{os.getpid()}] queue empty", flush=True)


if __name__ == "__main__": main()
