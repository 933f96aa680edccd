"""Fill the cells of 50_evaluation's side-by-side with the released code in several processes before the notebook reads them.

    OMP_NUM_THREADS=1 python scripts/fill_side_by_side.py --profile side &   # one per core
    OMP_NUM_THREADS=1 python scripts/fill_side_by_side.py --profile side &
    dd reproduce --notebooks 50_evaluation --profile side                    # reads the stored cells, writes the table

The processes share one queue through claim files (scripts/fill_baselines.py's `claim`): each (maker, method, seed) set
and its two evaluations are one task, stored by what they depend on, so a killed run resumes where it stopped.
"""
import argparse, os, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fill_baselines import claim, setup


def main(argv=None):
    from dd_nb.core import project_root
    from dd_nb.evaluation import side_by_side_cell, check_authors_dir
    a, p, train, test, store = setup(argv, __doc__, "side", "side_by_side", "side_by_side"); profile = a.profile
    authors = check_authors_dir((project_root()/"nbs"/p["authors_dir"]).resolve())   # relative to nbs/, as in the notebook
    claims = store.path/"claims"/profile
    seeds = p["side_seeds"] if isinstance(p["side_seeds"], dict) else {m: p["side_seeds"] for m in p["side_methods"]}
    for s in sorted({s for m in p["side_methods"] for s in seeds[m]}):   # seed by seed: a partial run covers every method
        for m in [m for m in p["side_methods"] if s in seeds[m]]:
            for maker in ("dd_nb", "authors"):
                if claim(claims, f"{maker}_{m}_s{s}"):
                    print(f"[{os.getpid()}] {maker} {m} seed {s}", flush=True)
                    side_by_side_cell(store, train, test, authors, maker, m, s, p["side_iterations"][m], p["side_runs"])
    print(f"[{os.getpid()}] queue empty", flush=True)


if __name__ == "__main__": main()
