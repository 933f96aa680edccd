"""Worker of tests/test_shard.py: IGD (deviation guidance) on digits, sharded by class, as one process or under torchrun.

python tests/shard_worker.py OUT LOGDIR [MARKER]   (positional: torchrun would take --options for its own)
Every generate_one call is logged to LOGDIR/r<rank>_a<restart>.txt before it runs. Given MARKER, the rank owning
class 1 exits in the middle of its run (making image (1, 1)) the first time, and writes MARKER so a restart lives."""
import argparse, json, os
from pathlib import Path

from dd_nb import shard
from dd_nb.data import load_dataset

PARAMS = dict(backend_kw={"steps": 40, "batch": 16}, steps=4, window=[1, 2], influence=False, deviation=True)
IPC, SEED = 2, 3

a = argparse.ArgumentParser()
a.add_argument("out"); a.add_argument("log"); a.add_argument("die_once", nargs="?")
args = a.parse_args()
rank, world = shard.init_dist()
restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))
log = Path(args.log)/f"r{rank}_a{restart}.txt"
log.parent.mkdir(parents=True, exist_ok=True)
ds = load_dataset("digits")
gen, run = shard.rank0_first(shard.method_generator, "igd", ds, PARAMS)

def logged(c, i, seed, history):
    with open(log, "a") as f: f.write(f"{c} {i}\n")
    if args.die_once and (c, i) == (1, 1) and not Path(args.die_once).exists():
        Path(args.die_once).touch(); os._exit(3)                  # a rank dying mid-run, no clean-up
    return gen(c, i, seed, history)

meta = dict(method="igd", dataset=ds.name, ipc=IPC, seed=SEED, params=run["params"])
out = shard.sharded_generate(logged, range(ds.num_classes), IPC, args.out, SEED, ds.num_classes, run, meta)
done = shard.sharded_map(lambda k: [k, rank], range(6))          # per-key work, gathered on every rank
if rank == 0: (Path(args.out)/"map.json").write_text(json.dumps(list(done.values())))
print(f"rank {rank}/{world} done" + (f": {len(out)} images" if out is not None else ""))
