"Diffusion backends and the guided sampler: exactness against DiTPipeline, checkpoint formats, seeds, resumable training."
import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from dd_nb import diffusion as dif, dit_original


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory):
    "A tiny random DiTPipeline saved with save_pretrained, and the backend loaded back from that folder."
    d = tmp_path_factory.mktemp("dit")
    pipe = dif.tiny_random_dit_pipeline(seed=1)
    pipe.save_pretrained(d)
    return pipe, dif.get_backend("dit", pretrained=d, device="cpu")


@pytest.mark.parametrize("cfg", [1.0, 4.0])
def test_unguided_ddim_equals_dit_pipeline(tiny_pipe, cfg):
    pipe, bk = tiny_pipe
    labels, seed = [5, 0, 999, 42], 11
    ref = torch.cat([pipe(class_labels=[c], guidance_scale=cfg, generator=torch.manual_seed(seed + i),
                          num_inference_steps=8, output_type="pt").images for i, c in enumerate(labels)])
    mine = dif.guided_sample(bk, labels, steps=8, cfg=cfg, seed=seed, batch_size=3)
    assert mine.shape == ref.shape and mine.dtype == torch.float32
    assert (mine - ref).abs().max().item() <= 1e-5


def test_batched_pipeline_call_with_generator_list_matches(tiny_pipe):
    pipe, bk = tiny_pipe
    labels = [1, 2, 3]
    ref = pipe(class_labels=labels, guidance_scale=4.0, num_inference_steps=6, output_type="pt",
               generator=[torch.Generator().manual_seed(i) for i in range(3)]).images
    assert (dif.guided_sample(bk, labels, steps=6, cfg=4.0, seed=0) - ref).abs().max().item() <= 1e-5


def test_batch_size_never_changes_an_image(tiny_pipe):
    _, bk = tiny_pipe
    for sched in ("ddim", "ddpm", "dpm"):
        a = dif.guided_sample(bk, [3, 4, 5, 6], steps=5, cfg=2.0, seed=4, batch_size=1, scheduler=sched)
        b = dif.guided_sample(bk, [3, 4, 5, 6], steps=5, cfg=2.0, seed=4, batch_size=4, scheduler=sched)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # image i of seed s is image 0 of seed s+i
    c = dif.guided_sample(bk, [4], steps=5, cfg=2.0, seed=5, scheduler=sched)
    torch.testing.assert_close(c[0], a[1], atol=1e-5, rtol=0)


def test_original_dit_checkpoint_round_trip(tmp_path):
    m = dif.tiny_random_dit_pipeline(seed=2).transformer
    with torch.no_grad():  # the original DiT has one shared t/y embedder
        for blk in m.transformer_blocks[1:]: blk.norm1.emb.load_state_dict(m.transformer_blocks[0].norm1.emb.state_dict())
        for blk in m.transformer_blocks:  # the original DiT's timestep frequencies and pre-MLP LayerNorm eps
            blk.norm1.emb.time_proj.downscale_freq_shift = 0; blk.norm3.eps = 1e-6
    sd = dit_original.diffusers_to_dit_state(m.state_dict())
    assert {"x_embedder.proj.weight", "t_embedder.mlp.0.weight", "y_embedder.embedding_table.weight",
            "blocks.1.attn.qkv.weight", "blocks.0.adaLN_modulation.1.bias", "final_layer.linear.weight"} <= set(sd)
    torch.save({**sd, "pos_embed": m.pos_embed.pos_embed.clone()}, tmp_path/"DiT-tiny.pt")
    m2 = dit_original.load_dit_checkpoint(tmp_path/"DiT-tiny.pt", num_heads=2)
    z, t, y = torch.randn(2, 4, 8, 8), torch.tensor([3, 700]), torch.tensor([9, 1000])
    with torch.no_grad():
        torch.testing.assert_close(m2(z, timestep=t, class_labels=y).sample, m(z, timestep=t, class_labels=y).sample)


def test_missing_weights_are_an_error_not_random(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="transformer"):
        dif.get_backend("dit", pretrained=tmp_path)
    with pytest.raises(FileNotFoundError, match="tokenizer|unet"):
        dif.get_backend("sd", pretrained=tmp_path, class_names=["a"])
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no trained tiny DiT"):
        dif.get_backend("tiny-dit", steps=3, train=False)
    with pytest.raises(ValueError, match="known"):
        dif.get_backend("imagen")


def test_bad_sampling_arguments(tiny_pipe):
    _, bk = tiny_pipe
    for kw, msg in [(dict(classes=[1000]), "class index 1000"), (dict(classes=[-1]), "class index -1"),
                    (dict(cfg=-0.5), "cfg=-0.5"), (dict(steps=0), "steps=0"), (dict(window=(4, 8)), "steps-1=7"),
                    (dict(window=(5, 2)), "window"), (dict(window=(-1, 2)), "window"), (dict(scheduler="euler"), "euler"),
                    (dict(size=24), "image size"), (dict(cfg_channels=9), "cfg_channels=9"), (dict(batch_size=0), "batch_size=0"),
                    (dict(candidates=2), "select")]:
        args = dict(classes=[1], steps=8) | kw
        with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
            dif.guided_sample(bk, **args)
    with pytest.raises(ValueError, match="latent shape"):
        bk.eps(torch.zeros(1, 4, 4, 4), 10, bk.cond([1]))
    with pytest.raises(ValueError, match="rule='paper'"):
        dif.guided_sample(bk, [1], guidance=[dif.FnGuidance(fn=lambda c: c.z0.sum((1, 2, 3)), rule="paper")], steps=2)


def test_bad_dtype_is_refused_and_bf16_runs(tmp_path):
    pipe = dif.tiny_random_dit_pipeline(seed=1)
    pipe.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="dtype='int8'.*valid"):
        dif.get_backend("dit", pretrained=tmp_path, device="cpu", dtype="int8")
    bk = dif.get_backend("dit", pretrained=tmp_path, device="cpu", dtype="bfloat16")
    assert bk.dtype == torch.bfloat16 and dif.initial_noise(bk, [0])[0].dtype == torch.bfloat16
    x = dif.guided_sample(bk, [1, 2], steps=3, cfg=2.0, guidance=[dif.FnGuidance(fn=lambda c: c.x0.float().mean((1, 2, 3)))])
    assert x.shape == (2, 3, 16, 16) and torch.isfinite(x).all()


class CountingTerm(dif.GuidanceTerm):
    "Pulls the decoded clean prediction toward black; remembers what it saw."
    def __post_init__(self): self.seen = []
    def loss(self, ctx):
        self.seen.append((ctx.step, ctx.t_index, ctx.classes.tolist(), tuple(ctx.z0.shape), tuple(ctx.x0.shape)))
        return ctx.x0.mean(dim=(1, 2, 3))


@pytest.mark.parametrize("mode", ["latent", "noise"])
def test_guidance_acts_inside_the_window_only(tiny_pipe, mode):
    _, bk = tiny_pipe
    term = CountingTerm(k=3.0, mode=mode)
    plain = dif.guided_sample(bk, [7, 8], steps=10, cfg=2.0, seed=2)
    guided = dif.guided_sample(bk, [7, 8], guidance=[term], steps=10, window=(1, 3), cfg=2.0, seed=2)
    assert sorted({s[:2] for s in term.seen}) == [(6, 3), (7, 2), (8, 1)]
    assert term.seen[0][2] == [7, 8] and term.seen[0][3] == (2, 4, 8, 8) and term.seen[0][4] == (2, 3, 16, 16)
    assert guided.mean() < plain.mean()


@pytest.mark.parametrize("scheduler,steps,window,expected", [("ddim", 50, (30, 45), range(4, 20)),
                                                            ("dpm", 20, (12, 18), range(1, 8))])
def test_papers_windows_guide_the_early_steps(tiny_pipe, scheduler, steps, window, expected):
    "IGD's t in [30, 45] of 50 DDIM steps counts t down from 49: loop steps 4..19; DPM-solver-20's [12, 18]: 1..7."
    _, bk = tiny_pipe
    term = CountingTerm(k=1.0)
    dif.guided_sample(bk, [3], guidance=[term], steps=steps, window=window, cfg=1.0, scheduler=scheduler)
    assert [s[0] for s in term.seen] == list(expected)
    assert [s[1] for s in term.seen] == list(range(window[1], window[0] - 1, -1))


def test_nonfinite_guidance_falls_back_and_is_counted(tiny_pipe):
    _, bk = tiny_pipe
    class Bad(dif.GuidanceTerm):
        def loss(self, ctx):  # finite loss; image 1's gradient is NaN (sqrt at 0)
            m = ctx.x0.mean(dim=(1, 2, 3))
            return torch.stack([m[0], (m[1] * 0).abs().sqrt()])
    plain = dif.guided_sample(bk, [1, 2], steps=6, cfg=2.0, seed=3)
    with pytest.warns(UserWarning, match="non-finite"):
        x, info = dif.guided_sample(bk, [1, 2], guidance=[Bad(k=2.0)], steps=6, window=(1, 3), cfg=2.0, seed=3, return_info=True)
    assert info["nonfinite"] == 3 and all(w[2] == [1] for w in info["nonfinite_where"])
    assert torch.isfinite(x).all()
    torch.testing.assert_close(x[1], plain[1], atol=1e-6, rtol=0)
    assert not torch.allclose(x[0], plain[0])
    class Inf(dif.GuidanceTerm):
        def loss(self, ctx): return ctx.z0.sum((1, 2, 3)) * torch.tensor([1.0, float("inf")])
    with pytest.raises(FloatingPointError, match=r"Inf gave a non-finite loss at loop step 0 \(t=5\) for images \[1\]"):
        dif.guided_sample(bk, [1, 2], guidance=[Inf()], steps=6, cfg=2.0)
    class Scalar(dif.GuidanceTerm):
        def loss(self, ctx): return ctx.z0.mean()
    with pytest.raises(ValueError, match=r"Scalar returned a loss of shape \(\); .* shape \(2,\)"):
        dif.guided_sample(bk, [1, 2], guidance=[Scalar()], steps=3, cfg=2.0)


@pytest.fixture(scope="module")
def pixel_dit():
    "A tiny random DiT in pixel space (no VAE): every change of the latents shows in the output."
    return dif.DiTBackend(dif.tiny_random_dit_pipeline(seed=5, classes=10).transformer, dif.DIT_SCHEDULER)


class NearestMemory(dif.MemoryGuidance):
    "IGD's deviation guidance shape: the largest cosine similarity of z_t to the class's committed latents."
    def loss(self, ctx):
        out = []
        for z, c in zip(ctx.z_t.flatten(1), ctx.classes.tolist()):
            m = self.recall(c)
            out.append(torch.nn.functional.cosine_similarity(z[None], m.flatten(1)).max() if m is not None else z.sum() * 0)
        return torch.stack(out)


def test_memory_term_is_batch_size_invariant(pixel_dit):
    classes = [0, 0, 1, 0, 2, 1, 0, 2, 1, 0]
    outs, mems = {}, {}
    for b in (1, 3, 8):
        term = NearestMemory(k=30.0, rule="fixed")
        outs[b] = dif.guided_sample(pixel_dit, classes, guidance=[term], steps=5, window=(1, 4), cfg=2.0, seed=9,
                                    batch_size=b, guidance_batch_size=2 if b == 8 else None)
        mems[b] = term.memory
    for b in (3, 8):
        torch.testing.assert_close(outs[b], outs[1], atol=1e-5, rtol=0)
        for c in mems[1]: torch.testing.assert_close(mems[b][c], mems[1][c], atol=1e-5, rtol=1e-5)
    assert {c: len(m) for c, m in mems[1].items()} == {0: 5, 1: 3, 2: 2}
    # the memory acts: without it the later images of a class differ
    plain = dif.guided_sample(pixel_dit, classes, steps=5, cfg=2.0, seed=9)
    assert (outs[1] - plain).abs().amax(dim=(1, 2, 3))[[1, 3, 6]].min() > 1e-2
    torch.testing.assert_close(outs[1][[0, 2, 4]], plain[[0, 2, 4]], atol=1e-5, rtol=0)  # first of each class: empty memory


def test_only_the_selected_candidate_is_committed(pixel_dit):
    term = NearestMemory(k=30.0, rule="fixed")
    brightness = lambda x, c: x.mean(dim=(1, 2, 3))
    x, info = dif.guided_sample(pixel_dit, [4, 4, 6], guidance=[term], steps=4, window=(0, 3), cfg=2.0, seed=1,
                                candidates=3, select=brightness, return_info=True, batch_size=4)
    assert {c: len(m) for c, m in term.memory.items()} == {4: 2, 6: 1}
    # the memory holds exactly the kept images: their latents decode to the returned images
    for c, pos in ((4, [0, 1]), (6, [2])):
        torch.testing.assert_close(pixel_dit.decode(term.memory[c]), x[pos], atol=1e-6, rtol=0)
    assert [int(torch.tensor(s).argmax()) for s in info["scores"]] == info["selected"]
    assert x.mean(dim=(1, 2, 3))[0].item() == pytest.approx(max(info["scores"][0]), abs=1e-5)


def test_dit_ddpm_learned_range_matches_adm_formulas(pixel_dit):
    "scheduler='dit-ddpm', cfg_channels=3 against ADM's p_sample written out here (float64 coefficients)."
    import numpy as np
    tr = pixel_dit.transformer
    assert tr.config.out_channels == 8  # learns its variance
    steps, cfg, labels, seed = 6, 3.0, [2, 7], 4
    mine = dif.guided_sample(pixel_dit, labels, steps=steps, cfg=cfg, seed=seed, scheduler="dit-ddpm", cfg_channels=3)
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1 - betas)
    stride, cur, use = 999 / (steps - 1), 0.0, []
    for _ in range(steps): use.append(round(cur)); cur += stride
    ab = abar[use]; ab_prev = np.append(1.0, ab[:-1]); b = 1 - ab / ab_prev
    post = b * (1 - ab_prev) / (1 - ab); post_log = np.log(np.append(post[1], post[1:]))
    gens = [torch.Generator().manual_seed(seed + i) for i in range(len(labels))]
    x = torch.cat([torch.randn((1, 4, 8, 8), generator=g) for g in gens])
    y = torch.tensor(labels + [10, 10])
    with torch.no_grad():
        for i in reversed(range(steps)):
            out = tr(torch.cat([x, x]), timestep=torch.full((4,), use[i]), class_labels=y).sample
            oc, ou = out.chunk(2)
            eps = torch.cat([ou[:, :3] + cfg * (oc[:, :3] - ou[:, :3]), oc[:, 3:4]], 1)
            x0 = np.sqrt(1 / ab[i]) * x - np.sqrt(1 / ab[i] - 1) * eps
            mean = b[i] * np.sqrt(ab_prev[i]) / (1 - ab[i]) * x0 + (1 - ab_prev[i]) * np.sqrt(1 - b[i]) / (1 - ab[i]) * x
            frac = (oc[:, 4:] + 1) / 2
            logvar = frac * np.log(b[i]) + (1 - frac) * post_log[i]
            x = mean + torch.exp(0.5 * logvar) * torch.cat([torch.randn((1, 4, 8, 8), generator=g) for g in gens]) if i > 0 else mean
    ref = (x / 2 + 0.5).clamp(0, 1)
    torch.testing.assert_close(mine, ref.float(), atol=2e-5, rtol=0)
    # all 4 channels guided (DiTPipeline's choice) is a different sampler
    assert (dif.guided_sample(pixel_dit, labels, steps=steps, cfg=cfg, seed=seed, scheduler="dit-ddpm") - mine).abs().max() > 1e-4
    assert dif._space_timesteps(1000, 50)[:3] == [0, 20, 41] and dif._space_timesteps(1000, 50)[-1] == 999


def test_step_rules():
    g, eps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    ab = torch.tensor(0.3)
    r = dif.GuidanceTerm(k=5.0).scale(g, eps, ab).flatten()
    torch.testing.assert_close(r, 5.0 * 0.7 ** 0.5 * eps.flatten(1).norm(dim=1) / g.flatten(1).norm(dim=1))
    torch.testing.assert_close(dif.GuidanceTerm(k=5.0, rule="igd-code").scale(g, eps, ab).flatten(), 0.0015 * r)
    assert dif.GuidanceTerm(k=50.0, rule="fixed").scale(g, eps, ab).flatten().tolist() == [50.0, 50.0]


def test_dift_features(tiny_pipe):
    _, bk = tiny_pipe
    f = dif.diffusion_features(bk, torch.rand(3, 3, 16, 16), classes=[0, 1, 2], t=100, block=0)
    assert f.shape == (3, 16) and torch.isfinite(f).all()
    with pytest.raises(ValueError, match="t=1000"):
        dif.diffusion_features(bk, torch.rand(1, 3, 16, 16), t=1000)


def test_tiny_dit_training_resumes_exactly(tmp_path, monkeypatch):
    from dd_nb import tiny_dit as tiny
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"a"))
    full = tiny.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
    ref = dif.get_backend("tiny-dit", steps=6, batch=4, train=False).transformer.state_dict()
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"b"))
    calls, real = [], tiny._ema_update
    def crash_at_step_5(*a):
        calls.append(1)
        if len(calls) == 5: raise KeyboardInterrupt
        real(*a)
    monkeypatch.setattr(tiny, "_ema_update", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        tiny.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
    assert tiny.tiny_dit_dir(steps=6, batch=4).with_name(tiny.tiny_dit_dir(steps=6, batch=4).name + ".ckpt.pt").exists()
    assert not tiny.tiny_dit_dir(steps=6, batch=4).exists()
    monkeypatch.setattr(tiny, "_ema_update", real)
    tiny.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
    got = dif.get_backend("tiny-dit", steps=6, batch=4, train=False).transformer.state_dict()
    for k in ref: torch.testing.assert_close(got[k], ref[k], msg=k)
    # the label dropout of diffusers' per-block embeddings is off; the null index is the class count
    from diffusers.models.embeddings import LabelEmbedding
    bk = dif.get_backend("tiny-dit", steps=6, batch=4, train=False)
    assert all(m.dropout_prob == 0 for m in bk.transformer.modules() if isinstance(m, LabelEmbedding))
    assert int(bk.null_cond) == 10 and bk.decode(torch.zeros(1, *bk.latent_shape)).shape == (1, 1, 16, 16)


def tiny_sd_pipeline(root: Path):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    chars = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{c: 2 + i for i, c in enumerate(chars)},
             **{c + "</w>": 28 + i for i, c in enumerate(chars)}}
    root.mkdir(parents=True, exist_ok=True)
    (root/"vocab.json").write_text(json.dumps(vocab)); (root/"merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(root/"vocab.json"), str(root/"merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    te = CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
                                      vocab_size=len(vocab), max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                cross_attention_dim=16, norm_num_groups=8, attention_head_dim=2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
                        norm_num_groups=8, layers_per_block=1, sample_size=16)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=False)
    return StableDiffusionPipeline(vae=vae.eval(), text_encoder=te.eval(), tokenizer=tok, unet=unet.eval(), scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)

def test_sd_backend_equals_stable_diffusion_pipeline(tmp_path):
    "Class c is the prompt 'An image of {name}', the null condition 'An image of .'; unguided DDIM = the pipeline, non-square too."
    pipe = tiny_sd_pipeline(tmp_path/"tok")
    pipe.save_pretrained(tmp_path/"sd")
    bk = dif.get_backend("sd", pretrained=tmp_path/"sd", class_names=["cat", "dog", "ship"], device="cpu")
    assert bk.null_prompt == "An image of ."
    for h, w in ((16, 16), (16, 24), (32, 8)):
        ref = pipe(prompt=["An image of dog", "An image of ship"], negative_prompt=["An image of ."] * 2, guidance_scale=4.0,
                   num_inference_steps=5, generator=[torch.Generator().manual_seed(s) for s in (3, 4)], output_type="pt",
                   height=h, width=w).images
        mine = dif.guided_sample(bk, [1, 2], steps=5, cfg=4.0, seed=3, size=(h, w))
        assert mine.shape == (2, 3, h, w) and (mine - ref).abs().max().item() <= 1e-5, (h, w)
    # guidance reaches non-square images too, and sees class indices, not prompt embeddings
    seen = []
    def dark(ctx): seen.append(ctx.classes.tolist()); return ctx.x0.mean(dim=(1, 2, 3))
    dif.guided_sample(bk, [2, 0], guidance=[dif.FnGuidance(fn=dark)], steps=3, window=(0, 1), size=(16, 24))
    assert seen and all(s == [2, 0] for s in seen)
    imgs = torch.rand(3, 3, 16, 24)
    f = dif.diffusion_features(bk, imgs[:2], classes=[0, 2], block=1)
    assert f.shape[0] == 2 and torch.isfinite(f).all()
    torch.testing.assert_close(dif.diffusion_features(bk, imgs[1:], classes=[2, 1], block=1, offset=1)[0], f[1], atol=1e-5, rtol=0)
    f8 = bk._vae_factor()  # 2 for this tiny VAE, 8 for Stable Diffusion's
    assert bk.encode(torch.rand(1, 3, 12 * f8, 5 * f8)).shape == (1, 4, 12, 5)
    with pytest.raises(ValueError, match=f"multiples of {f8}"):
        bk.encode(torch.rand(1, 3, 8 * f8 + 1, 16))
    with pytest.raises(ValueError, match=f"multiples of {f8}"):
        dif.guided_sample(bk, [1], steps=2, size=(16, 7))
    with pytest.raises(ValueError, match="class index 3"):
        dif.guided_sample(bk, [3], steps=2)
    other = dif.get_backend("sd", pretrained=tmp_path/"sd", class_names=["cat", "dog", "ship"], device="cpu", null_prompt="")
    assert not torch.allclose(other.uncond(1), bk.uncond(1))


def test_backends_satisfy_the_protocol_and_x0_is_lazy(tiny_pipe, pixel_dit, monkeypatch):
    _, bk = tiny_pipe
    assert isinstance(bk, dif.ConditionalDenoiser) and isinstance(pixel_dit, dif.ConditionalDenoiser)
    assert bk.out_size == (16, 16) and bk.dtype == torch.float32 and bk.device.type == "cpu"
    calls, real = [], bk.decode
    monkeypatch.setattr(bk, "decode", lambda z, clamp=True: calls.append(clamp) or real(z, clamp))
    dif.guided_sample(bk, [1, 2], guidance=[dif.FnGuidance(fn=lambda c: c.z0.pow(2).sum((1, 2, 3)))], steps=4, window=(0, 3))
    assert calls == [True]  # only the final decode: a term that never reads ctx.x0 never decodes
    calls.clear()
    dif.guided_sample(bk, [1, 2], guidance=[dif.FnGuidance(fn=lambda c: c.x0.mean((1, 2, 3)))], steps=4, window=(1, 2))
    assert calls == [False, False, True]  # one unclamped decode per guided step, then the output


def test_backend_of_another_module_registers_on_first_use(tmp_path):
    "Issue 26: tiny-dit and sd live in their own modules; get_backend imports each on first use in a fresh process."
    import subprocess, sys
    code = ("import dd_nb.diffusion as d, sys; assert 'tiny-dit' not in d.BACKENDS and 'tiny-dit' in d.backend_names()\n"
            f"try: d.get_backend('tiny-dit', train=False, path={str(tmp_path)!r})\n"
            "except FileNotFoundError as e: print('missing:', e)\n"
            "assert 'tiny-dit' in d.BACKENDS and 'sd' not in d.BACKENDS\n"
            "try: d.get_backend('sd')\n"
            "except ValueError as e: print('sd:', e)\n"
            "assert d.BACKEND_MODULES.keys() <= set(d.BACKENDS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "no trained tiny DiT" in out.stdout and "needs pretrained=" in out.stdout, out.stderr
