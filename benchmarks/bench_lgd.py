"""One LGD stage split into its parts, and LGD's generation cost per kept image, measured side by side in one process.

Prints `name: value` lines:
  learner_seconds              the stage's learner (ConvNet-3, the embedded recipe: <= 400 epochs, patience 50, +50 cosine)
  generation_seconds           sampling the stage's K candidates per image with learnability + deviation guidance
  selection_seconds            scoring the candidates (eq. 9) inside the sampler
  learner/generation/selection share   of the stage's time
  lgd_K/lgd_1                  seconds per kept image with K candidates / with one (K makes it at most ~K times)
  lgd_K/vanilla, igd/vanilla   seconds per kept image against plain DiT sampling of the same classes
Uses the embedded tiny DiT when cached (else a 40-step smoke one), DDPM 50 steps, CFG 4, LGD window t in [10, 45],
IGD's window [30, 45] with a 5-epoch ConvNet-3 surrogate (22_igd's embedded setting; its training is not counted).
Run: .venv/bin/python benchmarks/bench_lgd.py [--smoke] [--ipc 2] [--K 3]
"""
import argparse, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from dd_nb.data import load_dataset
from dd_nb.igd import DeviationGuidance, generate_set, igd_terms, load_surrogate, scaled_gamma
from dd_nb.checkpoints import train_surrogate_trajectory
from dd_nb.lgd import LearnabilityGuidance, train_learner, validation_split
from dd_nb.methods import METHODS
from dd_nb.train import reference_model
from bench_igd import tiny_backend   # the embedded tiny DiT when cached, else the smoke one (benchmarks/ is on sys.path)


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--ipc", type=int, default=2, help="images per class of the stage"); ap.add_argument("--K", type=int, default=3)
    args = ap.parse_args()
    bk, which = tiny_backend(args.smoke)
    train = load_dataset("digits")
    S = METHODS["random"](train, 2, 0)                               # the cumulative set the stage's learner sees
    ref = reference_model(train, "convnet3", epochs=30, seed=0, progress=False)
    val = validation_split(train, 10, 0)
    t0 = time.perf_counter()
    net, log = train_learner(S.images, S.labels, val, "convnet3", max_epochs=400, patience=50, finetune_epochs=50, device="cpu")
    learner = time.perf_counter() - t0
    kw = dict(steps=50, cfg=4.0, scheduler="ddpm", progress=False)
    n = args.ipc * train.num_classes
    generate_set(train, 1, 99, bk, (), **kw)                         # warm-up
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, (), **kw); vanilla = time.perf_counter() - t0

    def stage(K):
        lg = LearnabilityGuidance(k=15.0, learner=net, reference=ref, mean=train.mean, std=train.std, im_size=(16, 16))
        dev = DeviationGuidance(k=scaled_gamma(bk.latent_shape, 50.0))
        dev.remember(bk.encode(S.images.to(bk.device)), S.labels)
        spent = [0.0]
        def timed_score(x, c):
            t = time.perf_counter(); v = lg.score(x, c); spent[0] += time.perf_counter() - t; return v
        t = time.perf_counter()
        generate_set(train, args.ipc, 0, bk, [lg, dev], window=(10, 45), candidates=K, select=timed_score, **kw)
        return time.perf_counter() - t, spent[0]
    gen_k, sel_k = stage(args.K)
    gen_1, _ = stage(1)
    with tempfile.TemporaryDirectory() as d:
        path = train_surrogate_trajectory(train, "convnet3", 5, 1e-2, 0, 64, out=f"{d}/traj", progress=False)
        sur = load_surrogate(path, train, progress=False)
    t0 = time.perf_counter(); generate_set(train, args.ipc, 0, bk, igd_terms(bk, sur), window=(30, 45), **kw); igd = time.perf_counter() - t0
    total = learner + gen_k
    print(f"# tiny DiT {which}; digits; stage of {args.ipc} IPC ({n} kept images), K={args.K}; learner trained {log['epochs']} epochs "
          f"on {len(S)} images; torch threads={torch.get_num_threads()}")
    print(f"learner_seconds: {learner:.2f}s")
    print(f"generation_seconds: {gen_k - sel_k:.2f}s")
    print(f"selection_seconds: {sel_k:.3f}s")
    print(f"learner_share: {learner / total:.2f}")
    print(f"generation_share: {(gen_k - sel_k) / total:.2f}")
    print(f"selection_share: {sel_k / total:.3f}")
    print(f"vanilla_seconds_per_image: {vanilla / n:.4f}s")
    print(f"lgd_1_seconds_per_image: {gen_1 / n:.4f}s")
    print(f"lgd_K_seconds_per_kept_image: {gen_k / n:.4f}s")
    print(f"igd_seconds_per_image: {igd / n:.4f}s")
    print(f"lgd_K/lgd_1: {gen_k / gen_1:.2f}x (K={args.K})")
    print(f"lgd_K/vanilla: {gen_k / vanilla:.2f}x")
    print(f"igd/vanilla: {igd / vanilla:.2f}x")


if __name__ == "__main__":
    main()
