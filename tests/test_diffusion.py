"Diffusion backends and the guided sampler: exactness against DiTPipeline, checkpoint formats, seeds, resumable training."
import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from dd_nb import diffusion as dif


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
    sd = dif.diffusers_to_dit_state(m.state_dict())
    assert {"x_embedder.proj.weight", "t_embedder.mlp.0.weight", "y_embedder.embedding_table.weight",
            "blocks.1.attn.qkv.weight", "blocks.0.adaLN_modulation.1.bias", "final_layer.linear.weight"} <= set(sd)
    torch.save({**sd, "pos_embed": m.pos_embed.pos_embed.clone()}, tmp_path/"DiT-tiny.pt")
    m2 = dif.load_dit_checkpoint(tmp_path/"DiT-tiny.pt", num_heads=2)
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
                    (dict(cfg=-0.5), "cfg=-0.5"), (dict(steps=0), "steps=0"), (dict(window=(4, 9)), "window"),
                    (dict(window=(5, 2)), "window"), (dict(scheduler="euler"), "euler")]:
        args = dict(classes=[1], steps=8) | kw
        with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
            dif.guided_sample(bk, **args)
    with pytest.raises(ValueError, match="latent shape"):
        bk.eps(torch.zeros(1, 4, 4, 4), 10, bk.cond([1]))


class CountingTerm(dif.GuidanceTerm):
    "Pulls the decoded clean prediction toward black; remembers what it saw per class."
    def __post_init__(self): self.seen = []
    def loss(self, z_t, z0_hat, x0_hat, cond, step):
        self.seen.append((step, cond.tolist(), tuple(z0_hat.shape), tuple(x0_hat.shape)))
        return x0_hat.mean(dim=(1, 2, 3))


@pytest.mark.parametrize("mode", ["latent", "noise"])
def test_guidance_acts_inside_the_window_only(tiny_pipe, mode):
    _, bk = tiny_pipe
    term = CountingTerm(k=3.0, mode=mode)
    plain = dif.guided_sample(bk, [7, 8], steps=10, cfg=2.0, seed=2)
    guided = dif.guided_sample(bk, [7, 8], guidance=[term], steps=10, window=(6, 9), cfg=2.0, seed=2)
    assert sorted({s for s, *_ in term.seen}) == [6, 7, 8]
    assert term.seen[0][1] == [7, 8] and term.seen[0][2] == (2, 4, 8, 8) and term.seen[0][3] == (2, 3, 16, 16)
    assert guided.mean() < plain.mean()
    # an empty window is the unguided sampler
    torch.testing.assert_close(dif.guided_sample(bk, [7, 8], guidance=[CountingTerm()], steps=10, window=(3, 3), cfg=2.0, seed=2), plain)


def test_nonfinite_guidance_falls_back_and_is_counted(tiny_pipe):
    _, bk = tiny_pipe
    class Bad(dif.GuidanceTerm):
        def loss(self, z_t, z0, x0, cond, step):  # only image 1 goes bad
            return x0.mean(dim=(1, 2, 3)) * torch.tensor([1.0, float("inf")])
    plain = dif.guided_sample(bk, [1, 2], steps=6, cfg=2.0, seed=3)
    with pytest.warns(UserWarning, match="non-finite"):
        x, info = dif.guided_sample(bk, [1, 2], guidance=[Bad(k=2.0)], steps=6, window=(1, 4), cfg=2.0, seed=3, return_info=True)
    assert info["nonfinite"] == 3 and all(w[2] == [1] for w in info["nonfinite_where"])
    assert torch.isfinite(x).all()
    torch.testing.assert_close(x[1], plain[1], atol=1e-6, rtol=0)
    assert not torch.allclose(x[0], plain[0])


def test_dift_features(tiny_pipe):
    _, bk = tiny_pipe
    f = dif.diffusion_features(bk, torch.rand(3, 3, 16, 16), classes=[0, 1, 2], t=100, block=0)
    assert f.shape == (3, 16) and torch.isfinite(f).all()
    with pytest.raises(ValueError, match="t=1000"):
        dif.diffusion_features(bk, torch.rand(1, 3, 16, 16), t=1000)


def test_tiny_dit_training_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"a"))
    full = dif.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
    ref = dif.get_backend("tiny-dit", steps=6, batch=4, train=False).transformer.state_dict()
    monkeypatch.setenv("DD_NB_CACHE", str(tmp_path/"b"))
    calls, real = [], dif._ema_update
    def crash_at_step_5(*a):
        calls.append(1)
        if len(calls) == 5: raise KeyboardInterrupt
        real(*a)
    monkeypatch.setattr(dif, "_ema_update", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        dif.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
    assert dif.tiny_dit_dir(steps=6, batch=4).with_name(dif.tiny_dit_dir(steps=6, batch=4).name + ".ckpt.pt").exists()
    assert not dif.tiny_dit_dir(steps=6, batch=4).exists()
    monkeypatch.setattr(dif, "_ema_update", real)
    dif.train_tiny_dit(steps=6, batch=4, ckpt_every=2, progress=False)
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
    "Class c is the prompt 'An image of {name}', the null condition the empty prompt; unguided DDIM = the pipeline."
    pipe = tiny_sd_pipeline(tmp_path/"tok")
    pipe.save_pretrained(tmp_path/"sd")
    bk = dif.get_backend("sd", pretrained=tmp_path/"sd", class_names=["cat", "dog", "ship"], device="cpu")
    ref = pipe(prompt=["An image of dog", "An image of ship"], negative_prompt=["", ""], guidance_scale=4.0,
               num_inference_steps=5, generator=[torch.Generator().manual_seed(s) for s in (3, 4)], output_type="pt",
               height=16, width=16).images
    assert (dif.guided_sample(bk, [1, 2], steps=5, cfg=4.0, seed=3) - ref).abs().max().item() <= 1e-5
    f = dif.diffusion_features(bk, torch.rand(2, 3, 16, 16), classes=[0, 2], block=1)
    assert f.shape[0] == 2 and torch.isfinite(f).all()
    with pytest.raises(ValueError, match="class index 3"):
        dif.guided_sample(bk, [3], steps=2)
