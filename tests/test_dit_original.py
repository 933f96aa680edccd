"load_dit_checkpoint against an independent re-implementation of the original facebookresearch/DiT forward pass."
import argparse
import math
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from dd_nb import dit_original

D, HEADS, DEPTH, P, C_IN, N_CLS, LATENT = 32, 2, 2, 2, 4, 10, 8  # learn_sigma: 2 * C_IN output channels
C_OUT = 2 * C_IN
ARGS = argparse.Namespace(model="DiT-S/2", image_size=64, num_classes=N_CLS)  # as train.py saves it (latent = 64 // 8)


# ---- the original DiT, written from the paper / models.py semantics, on an original-format state dict -----------
def sincos_1d(dim, pos):
    "MAE 1D sin-cos: omega_i = 1 / 10000^(i / (dim/2)), [sin(pos*omega), cos(pos*omega)]."
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.reshape(-1, 1).double() * omega[None]
    return torch.cat([out.sin(), out.cos()], 1)


def sincos_2d(dim, grid):
    "DiT's fixed pos_embed: token k = (row, col) row-major; first half encodes the column (w), second half the row."
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    return torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], 1).float()[None]


def timestep_embedding(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


def lin(sd, name, x):
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


def layer_norm(x):  # LayerNorm(elementwise_affine=False, eps=1e-6)
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-6)


def attention(sd, pre, x, heads):
    B, N, Dm = x.shape
    qkv = lin(sd, f"{pre}.qkv", x).reshape(B, N, 3, heads, Dm // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    w = (q @ k.transpose(-2, -1) * (Dm // heads) ** -0.5).softmax(-1)
    return lin(sd, f"{pre}.proj", (w @ v).transpose(1, 2).reshape(B, N, Dm))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def original_dit_forward(sd, x, t, y, heads):
    B, _, H, W = x.shape
    p = sd["x_embedder.proj.weight"].shape[-1]
    h = F.conv2d(x, sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    h = h + sd["pos_embed"]
    te = lin(sd, "t_embedder.mlp.2", F.silu(lin(sd, "t_embedder.mlp.0", timestep_embedding(t))))
    c = te + sd["y_embedder.embedding_table.weight"][y]
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    for i in range(depth):
        b = f"blocks.{i}"
        sh1, sc1, g1, sh2, sc2, g2 = lin(sd, f"{b}.adaLN_modulation.1", F.silu(c)).chunk(6, dim=1)
        h = h + g1[:, None] * attention(sd, f"{b}.attn", modulate(layer_norm(h), sh1, sc1), heads)
        mlp = lin(sd, f"{b}.mlp.fc2", gelu_tanh(lin(sd, f"{b}.mlp.fc1", modulate(layer_norm(h), sh2, sc2))))
        h = h + g2[:, None] * mlp
    shift, scale = lin(sd, "final_layer.adaLN_modulation.1", F.silu(c)).chunk(2, dim=1)
    h = lin(sd, "final_layer.linear", modulate(layer_norm(h), shift, scale))
    c_out = h.shape[-1] // (p * p)
    h = h.reshape(B, H // p, W // p, p, p, c_out).permute(0, 5, 1, 3, 2, 4)  # n h w p q c -> n c h p w q
    return h.reshape(B, c_out, H, W)


def random_original_state(seed):
    "A random original-format DiT state dict; nothing is zero (adaLN-Zero layers included)."
    g = torch.Generator().manual_seed(seed)

    def r(*shape, fan_in=None):
        return torch.randn(*shape, generator=g) / math.sqrt(fan_in or shape[-1])

    sd = {"x_embedder.proj.weight": r(D, C_IN, P, P, fan_in=C_IN * P * P), "x_embedder.proj.bias": r(D, fan_in=4),
          "pos_embed": sincos_2d(D, LATENT // P),
          "t_embedder.mlp.0.weight": r(D, 256), "t_embedder.mlp.0.bias": r(D, fan_in=4),
          "t_embedder.mlp.2.weight": r(D, D), "t_embedder.mlp.2.bias": r(D, fan_in=4),
          "y_embedder.embedding_table.weight": r(N_CLS + 1, D, fan_in=1),
          "final_layer.adaLN_modulation.1.weight": r(2 * D, D), "final_layer.adaLN_modulation.1.bias": r(2 * D, fan_in=4),
          "final_layer.linear.weight": r(P * P * C_OUT, D), "final_layer.linear.bias": r(P * P * C_OUT, fan_in=4)}
    for i in range(DEPTH):
        b = f"blocks.{i}"
        sd |= {f"{b}.attn.qkv.weight": r(3 * D, D), f"{b}.attn.qkv.bias": r(3 * D, fan_in=4),
               f"{b}.attn.proj.weight": r(D, D), f"{b}.attn.proj.bias": r(D, fan_in=4),
               f"{b}.mlp.fc1.weight": r(4 * D, D), f"{b}.mlp.fc1.bias": r(4 * D, fan_in=4),
               f"{b}.mlp.fc2.weight": r(D, 4 * D), f"{b}.mlp.fc2.bias": r(D, fan_in=4),
               f"{b}.adaLN_modulation.1.weight": r(6 * D, D) * 0.5, f"{b}.adaLN_modulation.1.bias": r(6 * D, fan_in=16)}
    return sd


T = torch.tensor([0, 3, 500, 999])
Y = torch.tensor([0, 9, N_CLS, 3])  # N_CLS is the null (unconditional) label


def max_diff(model, sd, seed=0):
    x = torch.randn(len(T), C_IN, LATENT, LATENT, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        mine = model(x, timestep=T, class_labels=Y).sample
        ref = original_dit_forward(sd, x, T, Y, HEADS)
    assert mine.shape == ref.shape == (len(T), C_OUT, LATENT, LATENT)
    assert ref.abs().mean() > 0.1  # the reference output is not trivially small
    return (mine - ref).abs().max().item()


class _NotAllowed:  # any class outside torch's weights_only allow-list
    def __init__(self): self.payload = "x"


@pytest.fixture(scope="module")
def states():
    return random_original_state(0), random_original_state(1)  # ema, model


@pytest.fixture(scope="module")
def training_ckpt(tmp_path_factory, states):
    ema, model = states
    path = tmp_path_factory.mktemp("dit") / "0000100.pt"
    torch.save({"model": model, "ema": ema, "opt": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
                "args": ARGS}, path)
    return path


def _load(path, **kw):
    with pytest.warns(UserWarning, match="DiT-S/2"):  # the tiny weights are not DiT-S/2's shape: weights win
        return dit_original.load_dit_checkpoint(path, num_heads=HEADS, **kw)


def test_training_checkpoint_matches_original_forward(training_ckpt, states):
    m = _load(training_ckpt)
    assert not m.training
    info = m.dit_checkpoint_info
    assert info["source"] == "ema" and info["args"]["model"] == "DiT-S/2" and info["num_classes"] == N_CLS
    assert (info["sample_size"], info["learn_sigma"], info["out_channels"]) == (LATENT, True, C_OUT)
    assert torch.equal(m.pos_embed.pos_embed, states[0]["pos_embed"])  # the stored buffer is used as is
    for seed in range(2):
        assert max_diff(m, states[0], seed) <= 1e-5


def test_ema_is_preferred_over_model(tmp_path, training_ckpt, states):
    ema, model = states
    m = _load(training_ckpt)
    assert max_diff(m, ema) <= 1e-5 and max_diff(m, model) > 1e-2
    torch.save({"model": model, "args": ARGS}, tmp_path / "model-only.pt")
    m2 = _load(tmp_path / "model-only.pt")
    assert m2.dit_checkpoint_info["source"] == "model" and max_diff(m2, model) <= 1e-5


def test_unknown_pickled_class_is_refused(tmp_path, states):
    torch.save({"ema": states[0], "args": ARGS, "extra": _NotAllowed()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"_NotAllowed.*not allowed.*weights_only=True.*argparse\.Namespace"):
        dit_original.load_dit_checkpoint(tmp_path / "evil.pt", num_heads=HEADS)


def test_plain_state_dict_loads(tmp_path, states):
    torch.save(states[1], tmp_path / "DiT-tiny.pt")
    m = dit_original.load_dit_checkpoint(tmp_path / "DiT-tiny.pt", num_heads=HEADS)
    assert m.dit_checkpoint_info["source"] == "state_dict" and m.dit_checkpoint_info["args"] is None
    assert max_diff(m, states[1]) <= 1e-5


def test_latent_size_from_args_without_pos_embed(tmp_path, states):
    ema = {k: v for k, v in states[0].items() if k != "pos_embed"}
    torch.save({"ema": ema, "args": ARGS}, tmp_path / "no-pos.pt")
    m = _load(tmp_path / "no-pos.pt")
    assert m.dit_checkpoint_info["sample_size"] == LATENT == ARGS.image_size // 8
    assert max_diff(m, states[0]) <= 1e-5  # diffusers' own sin-cos grid equals DiT's
