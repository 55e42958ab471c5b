#!/usr/bin/env python3
"""Time one CFG denoising step of the OFFICIAL Wan2.1 DiT on random weights.

The point is a side-by-side figure next to our C++ `bench_dit`: the same
config, the same latent size, the same context lengths, run through the
upstream reference implementation (`WanModel` of github.com/Wan-Video/Wan2.1,
files wan/modules/model.py and wan/modules/attention.py).

Written against Wan2.1 commit 9737cba9c1c3c4d04b33fcad41c111989865d315
(HEAD of 2026-03-05; model.py/attention.py last changed in 76e9427,
"Format the code (#402)", 2025-05-16). The sha256 of both files at that commit
are in KNOWN_SOURCES below; the script reports whether the files it loaded
match them.

No upstream code is kept in this repository: the script loads model.py and
attention.py at run time from `--official DIR` (a folder holding copies of
those two files, e.g. made with
`git --git-dir=MIRROR show HEAD:wan/modules/model.py > DIR/model.py`).
The rest of the `wan` package is never imported.

What is replaced, and why:
  * diffusers: model.py does `from diffusers.configuration_utils import
    ConfigMixin, register_to_config` and `from diffusers.models.modeling_utils
    import ModelMixin`. Those three names are stubbed in sys.modules
    (ModelMixin = torch.nn.Module, ConfigMixin = an empty mixin,
    register_to_config = identity decorator). They only provide config
    bookkeeping and from_pretrained/save_pretrained; forward() never uses them.
  * flash_attention: attention patched to torch SDPA (flash-attn not
    installed). The replacement has the same signature and reproduces the
    varlen semantics of the official call (see sdpa_flash_attention).

One "CFG step" is exactly what WanT2V.generate (wan/text2video.py) does per
timestep, minus the scheduler update (a few elementwise ops, skipped):
    model.to(device)                                   # generate does this every step
    cond   = model([x], t=t, context=[ctx],  seq_len=seq_len)[0]
    uncond = model([x], t=t, context=[nctx], seq_len=seq_len)[0]
    noise_pred = uncond + guide_scale * (cond - uncond)
under torch.no_grad() and bf16 autocast (generate wraps its loop in
`amp.autocast(dtype=param_dtype)`, param_dtype = bfloat16).
`--cfg-mode batched` instead runs one forward with a batch of 2 (what our
bench_dit does); the official generate never batches.

Examples:
  python3 scripts/gpu_check/official_dit_step.py --official /tmp/official-wan \\
      --config models/configs/wan2.1-t2v-1.3b.json --device cuda --dtype bf16
  python3 scripts/gpu_check/official_dit_step.py --official /tmp/official-wan \\
      --config /tmp/tiny.json --device cpu --dtype fp32 --frames 5 --height 64 \\
      --width 64 --warmup 1 --repeat 2 --check-attention
The last stdout line is `RESULT {json}`.
"""

import argparse
import ast
import contextlib
import ctypes
import hashlib
import importlib.util
import inspect
import json
import math
import os
import resource
import statistics
import struct
import sys
import time
import types
import warnings

WAN_COMMIT_READ = "9737cba9c1c3c4d04b33fcad41c111989865d315"
# sha256 of the two files at WAN_COMMIT_READ.
KNOWN_SOURCES = {
    "model.py": "c1572ade3bf7345bd4c00d4a19535788fab62f9c08b5aeb15f6d01f4435bb47a",
    "attention.py": "23fe7c6f6e4065242d95e5e188cb2d1a16bd283f05dca7e7e878977158fcfdbc",
}
PACKAGE = "wan_official_modules"
ATTENTION_NOTE = "attention patched to torch SDPA (flash-attn not installed)"

# torch without numpy warns once at import; torch.cuda.amp.autocast (used by
# model.py) is deprecated and warns on every use. Neither matters here.
warnings.filterwarnings("ignore", message=".*Failed to initialize NumPy.*")
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.cuda.amp.*")
# ... and, on a CPU dry run, that CUDA autocast is disabled (model.py's fp32 regions).
warnings.filterwarnings("ignore", message=".*CUDA is not available.*Disabling autocast.*")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class UsageError(Exception):
    """A problem with the command line or the input files (exit status 2)."""


# --------------------------------------------------------------------------
# Attention replacement
# --------------------------------------------------------------------------

# Set by main(): True for --dtype fp32, where attention is computed in fp32.
# (The official flash path casts fp32 q/k/v to `dtype` = bf16, because
# flash-attn has no fp32 kernel; in fp32 mode we keep fp32 so the CPU check
# against explicit math is exact.)
ATTN_STATE = {"fp32": False, "backends_seen": {}}

_HALF = (torch.float16, torch.bfloat16)


def _official_cast(q, k, v, dtype):
    """The dtype handling of the official flash_attention (or fp32 in fp32 mode)."""
    if ATTN_STATE["fp32"]:
        return q.float(), k.float(), v.float()

    def half(x):
        return x if x.dtype in _HALF else x.to(dtype)

    q, k, v = half(q), half(k), half(v)
    # official: q = q.to(v.dtype); k = k.to(v.dtype)
    return q.to(v.dtype), k.to(v.dtype), v


def _check_unsupported(causal, window_size):
    if causal:
        raise NotImplementedError("sdpa_flash_attention: causal=True is not used by WanModel and not implemented")
    if tuple(window_size) != (-1, -1):
        raise NotImplementedError(f"sdpa_flash_attention: window_size={tuple(window_size)} (local attention) is "
                                  "not used by the t2v configs and not implemented")


def _note_backend(q, k, v, mask, dropout_p, scale, gqa):
    """Record which SDPA kernel PyTorch picks for this shape (CUDA, best effort)."""
    if q.device.type != "cuda":
        return
    key = (tuple(q.shape), tuple(k.shape), str(q.dtype), mask is not None)
    seen = ATTN_STATE["backends_seen"]
    if key in seen:
        return
    name = "unknown"
    try:
        choice = torch._fused_sdp_choice(q, k, v, mask, dropout_p, False, scale=scale, enable_gqa=gqa)
        name = {0: "math", 1: "flash", 2: "efficient", 3: "cudnn", 4: "overrideable"}.get(int(choice), str(choice))
    except Exception:  # private API; only informative
        pass
    seen[key] = name


def sdpa_flash_attention(
    q,
    k,
    v,
    q_lens=None,
    k_lens=None,
    dropout_p=0.,
    softmax_scale=None,
    q_scale=None,
    causal=False,
    window_size=(-1, -1),
    deterministic=False,
    dtype=torch.bfloat16,
    version=None,
):
    """Drop-in for wan.modules.attention.flash_attention, on F.scaled_dot_product_attention.

    q [B, Lq, Nq, C1], k [B, Lk, Nk, C1], v [B, Lk, Nk, C2]; returns [B, Lq, Nq, C2]
    in q's dtype, like the official function.

    Official semantics (flash_attn_varlen_func on packed sequences):
      * k_lens[b]: sample b's queries see only keys/values [0, k_lens[b]);
        here a boolean key-padding mask [B, 1, 1, Lk] (None when every k_lens
        is Lk, so SDPA can use its unmasked flash kernel).
      * q_lens None: every one of the Lq query rows is computed (WanModel
        always passes None; its zero-padded rows beyond seq_lens are computed
        and later dropped by unpatchify). The official function only works
        with q_lens that fill Lq (its output is unflatten(0, (b, lq))); here
        rows beyond q_lens[b] are returned as zeros.
      * dtype: fp32 inputs are cast to `dtype` (bf16), then q, k to v's dtype.
      * softmax_scale None -> 1/sqrt(C1); q_scale multiplies q; dropout_p is
        passed on (0 in eval); deterministic and version are ignored.
    """
    assert dtype in _HALF
    _check_unsupported(causal, window_size)
    b, lq, lk, out_dtype = q.size(0), q.size(1), k.size(1), q.dtype
    q, k, v = _official_cast(q, k, v, dtype)
    if q_scale is not None:
        q = q * q_scale

    mask = None
    if k_lens is not None:
        k_lens = torch.as_tensor(k_lens)
        if k_lens.device.type != "cpu" or int(k_lens.min()) < lk:
            k_lens = k_lens.to(device=q.device)
            mask = (torch.arange(lk, device=q.device)[None, :] < k_lens[:, None]).view(b, 1, 1, lk)

    gqa = q.size(2) != k.size(2)
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, N, L, C]
    _note_backend(qt, kt, vt, mask, dropout_p, softmax_scale, gqa)
    out = F.scaled_dot_product_attention(
        qt, kt, vt, attn_mask=mask, dropout_p=dropout_p, is_causal=False, scale=softmax_scale, enable_gqa=gqa)
    x = out.transpose(1, 2).contiguous()  # [B, Lq, N, C2], like flash's unflatten(0, (b, lq))

    if q_lens is not None:
        q_lens = torch.as_tensor(q_lens).to(device=x.device)
        keep = torch.arange(lq, device=x.device)[None, :] < q_lens[:, None]
        x = x * keep[:, :, None, None].to(x.dtype)
    return x.type(out_dtype)


def reference_flash_attention(
    q,
    k,
    v,
    q_lens=None,
    k_lens=None,
    dropout_p=0.,
    softmax_scale=None,
    q_scale=None,
    causal=False,
    window_size=(-1, -1),
    deterministic=False,
    dtype=torch.bfloat16,
    version=None,
):
    """Explicit-math reference with the official varlen semantics (for --check-attention).

    Per sample: slice the valid keys (k_lens) and queries (q_lens), exactly
    like the official packing, then softmax(q k^T * scale) v with an explicit
    max-subtracted exp / sum, in fp32, query rows in chunks to bound memory.
    """
    assert dtype in _HALF
    assert dropout_p == 0.
    _check_unsupported(causal, window_size)
    b, lq, nq, c1 = q.shape
    lk, nk = k.size(1), k.size(2)
    out_dtype = q.dtype
    q, k, v = _official_cast(q, k, v, dtype)
    compute_dtype = v.dtype
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(c1)
    out = torch.zeros(b, lq, nq, v.size(-1), dtype=torch.float32, device=q.device)
    chunk = 1024
    for i in range(b):
        kl = lk if k_lens is None else int(k_lens[i])
        ql = lq if q_lens is None else int(q_lens[i])
        qi = q[i, :ql].float()
        if q_scale is not None:
            qi = qi * q_scale
        ki, vi = k[i, :kl].float(), v[i, :kl].float()
        if nk != nq:
            ki = ki.repeat_interleave(nq // nk, dim=1)
            vi = vi.repeat_interleave(nq // nk, dim=1)
        for s in range(0, ql, chunk):
            scores = torch.einsum("qhd,khd->hqk", qi[s:s + chunk], ki) * scale
            scores = scores - scores.amax(dim=-1, keepdim=True)
            p = scores.exp()
            p = p / p.sum(dim=-1, keepdim=True)
            out[i, s:s + chunk] = torch.einsum("hqk,khd->qhd", p, vi)
    # official: the kernel writes in the compute dtype, then .type(out_dtype)
    return out.to(compute_dtype).type(out_dtype)


# --------------------------------------------------------------------------
# Loading the official code
# --------------------------------------------------------------------------

STUBBED_DIFFUSERS = {
    "diffusers.configuration_utils": {"ConfigMixin", "register_to_config"},
    "diffusers.models.modeling_utils": {"ModelMixin"},
}


def install_diffusers_stub():
    """Minimal stand-ins for the diffusers names model.py imports."""

    class ConfigMixin:
        """Stub: diffusers' config bookkeeping, unused by forward()."""

    def register_to_config(init):
        return init

    root = types.ModuleType("diffusers")
    root.__path__ = []
    configuration_utils = types.ModuleType("diffusers.configuration_utils")
    configuration_utils.ConfigMixin = ConfigMixin
    configuration_utils.register_to_config = register_to_config
    models = types.ModuleType("diffusers.models")
    models.__path__ = []
    modeling_utils = types.ModuleType("diffusers.models.modeling_utils")
    modeling_utils.ModelMixin = torch.nn.Module
    root.configuration_utils = configuration_utils
    root.models = models
    models.modeling_utils = modeling_utils
    for mod in (root, configuration_utils, models, modeling_utils):
        sys.modules[mod.__name__] = mod


def check_diffusers_imports(model_src, path):
    """Fail clearly if model.py imports diffusers names the stub does not provide."""
    tree = ast.parse(model_src, filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "diffusers":
            names = {a.name for a in node.names}
            missing = names - STUBBED_DIFFUSERS.get(node.module, set())
            if missing:
                raise UsageError(f"{path}: imports {sorted(missing)} from {node.module}, which the diffusers stub "
                                 f"does not provide (stubbed: {STUBBED_DIFFUSERS}); the file differs from Wan2.1 "
                                 f"{WAN_COMMIT_READ[:7]}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "diffusers":
                    raise UsageError(f"{path}: `import {a.name}` is not covered by the diffusers stub")


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_official(official_dir, patch_attention):
    """Import DIR/attention.py and DIR/model.py as package PACKAGE; return (model module, info)."""
    if not os.path.isdir(official_dir):
        raise UsageError(f"--official {official_dir}: not a directory")
    paths = {name: os.path.join(official_dir, name) for name in ("attention.py", "model.py")}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise UsageError(f"--official {official_dir}: missing {', '.join(missing)} (copies of wan/modules/model.py "
                         "and wan/modules/attention.py from Wan2.1)")
    with open(paths["model.py"], encoding="utf-8") as f:
        check_diffusers_imports(f.read(), paths["model.py"])

    install_diffusers_stub()
    pkg = types.ModuleType(PACKAGE)
    pkg.__path__ = [os.path.abspath(official_dir)]
    pkg.__package__ = PACKAGE
    sys.modules[PACKAGE] = pkg

    def load(sub):
        full = f"{PACKAGE}.{sub}"
        spec = importlib.util.spec_from_file_location(full, paths[sub + ".py"])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        setattr(pkg, sub, mod)
        return mod

    attention = load("attention")
    if not hasattr(attention, "flash_attention"):
        raise UsageError(f"{paths['attention.py']} defines no flash_attention")
    if patch_attention:
        attention._official_flash_attention = attention.flash_attention

        def patched_attention(q, k, v, q_lens=None, k_lens=None, dropout_p=0., softmax_scale=None, q_scale=None,
                              causal=False, window_size=(-1, -1), deterministic=False, dtype=torch.bfloat16,
                              fa_version=None):
            return sdpa_flash_attention(q, k, v, q_lens, k_lens, dropout_p, softmax_scale, q_scale, causal,
                                        window_size, deterministic, dtype, fa_version)

        # Patched before model.py runs, so its `from .attention import
        # flash_attention` binds the replacement; set again below regardless.
        attention.flash_attention = sdpa_flash_attention
        attention.attention = patched_attention
    elif not (getattr(attention, "FLASH_ATTN_2_AVAILABLE", False)
              or getattr(attention, "FLASH_ATTN_3_AVAILABLE", False)):
        raise UsageError("--attention official needs flash-attn (flash_attn or flash_attn_interface), not installed")

    model = load("model")
    if not hasattr(model, "WanModel"):
        raise UsageError(f"{paths['model.py']} defines no WanModel")
    if patch_attention:
        model.flash_attention = sdpa_flash_attention

    hashes = {name: sha256_of(p) for name, p in paths.items()}
    return model, hashes


def resolve_commit(args, hashes):
    """The Wan2.1 commit the loaded files come from, as far as can be told."""
    if args.wan_commit:
        return args.wan_commit, "given with --wan-commit"
    for name in ("COMMIT", "WAN_COMMIT", "commit.txt"):
        p = os.path.join(args.official, name)
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                text = f.read().strip().split()
            if text:
                return text[0], f"read from {p}"
    if hashes == KNOWN_SOURCES:
        return WAN_COMMIT_READ, "files match this commit's sha256"
    return "unknown", f"files differ from Wan2.1 {WAN_COMMIT_READ[:7]} (sha256 mismatch)"


# --------------------------------------------------------------------------
# Model, inputs, weights
# --------------------------------------------------------------------------


def build_model(wan_model_mod, config_path, args, device, param_dtype):
    try:
        with open(config_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise UsageError(f"--config {config_path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise UsageError(f"--config {config_path}: not valid JSON: {e}") from e
    if not isinstance(cfg, dict):
        raise UsageError(f"--config {config_path}: expected a JSON object")
    WanModel = wan_model_mod.WanModel
    accepted = [p for p in inspect.signature(WanModel.__init__).parameters if p != "self"]
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise UsageError(f"--config {config_path}: unknown key(s) {unknown}; WanModel.__init__ takes {accepted}")
    # ti2v (Wan2.2 TI2V-5B, with Wan2.2's model.py) is timed in its
    # text-to-video mode; i2v would need the conditioning y and is not.
    model_type = cfg.get("model_type", "t2v")
    if model_type not in ("t2v", "ti2v"):
        raise UsageError(f"--config {config_path}: model_type {model_type!r}; only 't2v' and 'ti2v' are timed here")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    kwargs["model_type"] = model_type

    torch.manual_seed(args.seed)
    with torch.device(device):
        model = WanModel(**kwargs)
    # official default init zeroes head.head (weight; bias zeroed too), so the
    # model's output is exactly 0 until trained; timing is unaffected.
    if args.head_init == "xavier":
        torch.nn.init.xavier_uniform_(model.head.head.weight)
    model = model.to(param_dtype)
    model.eval().requires_grad_(False)
    return model, kwargs


def make_inputs(model, args, device, ctx_dtype):
    """Latent and contexts shaped like WanT2V.generate's."""
    # vae_stride of the configs: (4, 8, 8) for the Wan2.1 VAE, (4, 16, 16) for
    # the Wan2.2 VAE of TI2V-5B (wan/configs/wan_ti2v_5B.py).
    spatial = args.vae_stride or (16 if getattr(model, "model_type", "t2v") == "ti2v" else 8)
    vae_stride = (4, spatial, spatial)
    patch = model.patch_size
    f_lat = (args.frames - 1) // vae_stride[0] + 1
    lat_h, lat_w = args.height // vae_stride[1], args.width // vae_stride[2]
    # text2video.py: ceil(H_lat*W_lat / (p_h*p_w) * F_lat / sp_size) * sp_size, sp_size = 1
    seq_len = math.ceil((lat_h * lat_w) / (patch[1] * patch[2]) * f_lat)
    tokens = (f_lat // patch[0]) * (lat_h // patch[1]) * (lat_w // patch[2])
    g = torch.Generator().manual_seed(args.seed + 1)
    # generate: noise float32 [z_dim=16, F_lat, H/8, W/8]; latents stay fp32
    x = torch.randn(model.in_dim, f_lat, lat_h, lat_w, generator=g, dtype=torch.float32).to(device)
    # T5 (t5_dtype = bf16) hands over [L, 4096] contexts in its dtype
    ctx = (torch.randn(args.context_len, model.text_dim, generator=g) * args.context_scale).to(device, ctx_dtype)
    nctx = (torch.randn(args.negative_context_len, model.text_dim, generator=g) * args.context_scale).to(
        device, ctx_dtype)
    # scheduler timesteps are int64 on the device; generate stacks one: shape [1]
    t = torch.tensor([args.timestep], dtype=torch.int64, device=device)
    if getattr(model, "model_type", "t2v") == "ti2v":
        # textimage2video.py hands the DiT per-token timesteps: float32
        # [1, seq_len], t on every token in text-to-video mode.
        t = torch.full((1, seq_len), float(args.timestep), dtype=torch.float32, device=device)
    return dict(x=x, ctx=ctx, nctx=nctx, t=t, seq_len=seq_len, tokens=tokens, latent=(model.in_dim, f_lat, lat_h,
                                                                                       lat_w))


SAFETENSORS_DTYPES = {
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.float32: "F32",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
}


def save_safetensors(path, state_dict, metadata):
    """Write state_dict as safetensors by hand, one tensor at a time."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; this host is not")
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    offset = 0
    for name, t in state_dict.items():
        if t.dtype not in SAFETENSORS_DTYPES:
            raise RuntimeError(f"{name}: dtype {t.dtype} has no safetensors code here")
        n = t.numel() * t.element_size()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset,
                                                                                                      offset + n]}
        offset += n
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)  # data starts 8-byte aligned
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for t in state_dict.values():
            c = t.detach().to("cpu").contiguous()
            n = c.numel() * c.element_size()
            if n:
                f.write((ctypes.c_char * n).from_address(c.data_ptr()))
            del c
    os.replace(tmp, path)
    return 8 + len(hb) + offset


# --------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------


def make_step(model, inp, args, device, amp_ctx, sdpa_ctx):
    x, ctx, nctx, t, seq_len = inp["x"], inp["ctx"], inp["nctx"], inp["t"], inp["seq_len"]
    t2 = torch.cat([t, t])
    g = args.guide_scale

    def step():
        with amp_ctx(), torch.no_grad(), sdpa_ctx():
            model.to(device)  # generate calls this every step (a no-op here)
            if args.cfg_mode == "two-calls":
                cond = model([x], t=t, context=[ctx], seq_len=seq_len)[0]
                uncond = model([x], t=t, context=[nctx], seq_len=seq_len)[0]
            else:
                cond, uncond = model([x, x], t=t2, context=[ctx, nctx], seq_len=seq_len)
            return uncond + g * (cond - uncond)

    return step


def run_attention_check(model_mod, model, inp, args, device, amp_ctx):
    """SDPA patch vs explicit-math reference: a unit case, then one model forward."""
    fp32 = ATTN_STATE["fp32"]
    tol = args.check_tol if args.check_tol is not None else (1e-5 if fp32 else 5e-2)
    results = {}

    # 1) the function alone: batch 3, per-sample key lengths, plus k_lens=None
    g = torch.Generator().manual_seed(args.seed + 7)
    dt = torch.float32 if fp32 else torch.bfloat16
    q = torch.randn(3, 37, 4, 16, generator=g).to(device, dt)
    k = torch.randn(3, 29, 4, 16, generator=g).to(device, dt)
    v = torch.randn(3, 29, 4, 16, generator=g).to(device, dt)
    k_lens = torch.tensor([29, 17, 5], dtype=torch.long)
    for label, kl in (("unit k_lens=[29,17,5]", k_lens), ("unit k_lens=None", None)):
        a = sdpa_flash_attention(q, k, v, k_lens=kl)
        r = reference_flash_attention(q, k, v, k_lens=kl)
        results[label] = (a.float() - r.float()).abs().max().item()

    # 2) one cond forward of the model, with seq_len padded so the
    #    self-attention key mask (k_lens = seq_lens < seq_len) is exercised
    seq_len = inp["seq_len"] + args.check_seq_pad
    captured = {}
    hook = model.head.register_forward_pre_hook(lambda m, a: captured.__setitem__("x", a[0].detach().float().clone()))
    outs = {}
    try:
        for name, fn in (("sdpa", sdpa_flash_attention), ("reference", reference_flash_attention)):
            model_mod.flash_attention = fn
            with amp_ctx(), torch.no_grad():
                out = model([inp["x"]], t=inp["t"], context=[inp["ctx"]], seq_len=seq_len)[0]
            outs[name] = (captured["x"], out.float())
    finally:
        model_mod.flash_attention = sdpa_flash_attention
        hook.remove()
    (ha, oa), (hr, orf) = outs["sdpa"], outs["reference"]
    results[f"model pre-head hidden (seq_len {seq_len}, {inp['tokens']} tokens)"] = (ha - hr).abs().max().item()
    results["model output"] = (oa - orf).abs().max().item()
    ok = all(d < tol for d in results.values())
    print(f"attention check (SDPA patch vs explicit softmax(QK^T/sqrt(d)) with per-sample key slicing, "
          f"{'fp32' if fp32 else 'bf16'}), tolerance {tol:g}:")
    for label, d in results.items():
        print(f"  {label}: max abs diff {d:.3e}")
    print(f"  pre-head hidden max abs {hr.abs().max().item():.3e}; output max abs {orf.abs().max().item():.3e}" +
          (" (head.head is zero-initialised, as in the official init_weights)" if args.head_init == "official" else ""))
    print(f"  -> {'PASS' if ok else 'FAIL'}")
    return {"tolerance": tol, "max_abs_diff": results, "pass": ok}


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows a default only where there is one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and \
                "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


EPILOG = """\
what is timed:
  one CFG step as WanT2V.generate runs it: model.to(device), a cond and an
  uncond forward (B=1 each, contexts zero-padded to text_len inside the
  model), uncond + g*(cond-uncond); under torch.no_grad() and, for bf16 and
  amp-bf16, torch.autocast(bf16). The scheduler update is skipped. CUDA: each
  step between CUDA events, with torch.cuda.synchronize around; CPU:
  time.perf_counter. peak_bytes is torch.cuda.max_memory_allocated over the
  timed steps (weights included; null on CPU, see peak_rss_bytes).

output:
  human-readable lines, then as the last stdout line
  RESULT {"impl": "official-wan2.1", "wan_commit": ..., "device": ...,
  "dtype": ..., "frames": ..., "height": ..., "width": ..., "seq_len": ...,
  "context_len": ..., "negative_context_len": ..., "warmup": ...,
  "repeat": ..., "step_seconds_median": ..., "step_seconds_min": ...,
  "peak_bytes": ..., "attention": "sdpa-patched", ...extra keys}

exit status: 0 ok, 1 failed attention check or runtime error, 2 usage error
(bad option, missing --official files, unknown config key).
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=("Time one CFG denoising step of the official Wan2.1 WanModel (t2v) on seeded\n"
                     "random weights, for a side-by-side with soragen's bench_dit. Loads model.py and\n"
                     "attention.py from --official DIR, stubs the diffusers imports, and replaces\n"
                     "flash_attention with torch SDPA (flash-attn is not installed).\n"
                     f"Written against Wan2.1 {WAN_COMMIT_READ}."),
        epilog=EPILOG,
        formatter_class=_HelpFormatter)
    p.add_argument("--official", required=True, metavar="DIR",
                   help="folder holding copies of Wan2.1's wan/modules/model.py and wan/modules/attention.py")
    p.add_argument("--config", required=True,
                   help="DiT config JSON in soragen's format (e.g. models/configs/wan2.1-t2v-1.3b.json); every key "
                   "must be a WanModel.__init__ argument")
    p.add_argument("--wan-commit", default=None,
                   help="Wan2.1 commit the files in --official came from (default: DIR/COMMIT if present, else "
                   f"{WAN_COMMIT_READ[:12]} when the files' sha256 match that commit, else 'unknown')")
    p.add_argument("--device", default="cuda", help="torch device: cuda, cuda:N or cpu")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32", "amp-bf16"],
                   help="bf16: weights cast to bfloat16, forward under bf16 autocast. "
                   "fp32: fp32 weights, no autocast, attention in fp32 (the CPU dry-run/check mode). "
                   "amp-bf16: fp32 weights under bf16 autocast, which is what WanT2V.generate runs with the "
                   "released (fp32) checkpoint. bf16 and amp-bf16 need CUDA (model.py's fp32 regions use "
                   "torch.cuda.amp.autocast)")
    p.add_argument("--vae-stride", type=int, default=None,
                   help="pixels per latent (default: 16 for a ti2v config, else 8)")
    p.add_argument("--frames", type=int, default=81, help="video frames (4k+1)")
    p.add_argument("--height", type=int, default=480, help="video height in pixels")
    p.add_argument("--width", type=int, default=832, help="video width in pixels")
    p.add_argument("--context-len", type=int, default=48, help="prompt context tokens (<= text_len)")
    p.add_argument("--negative-context-len", type=int, default=12, help="negative prompt context tokens (<= text_len)")
    p.add_argument("--context-scale", type=float, default=0.1,
                   help="contexts are randn * this (bench_dit uses 0.1)")
    p.add_argument("--timestep", type=int, default=999, help="diffusion timestep t")
    p.add_argument("--guide-scale", type=float, default=5.0, help="CFG guidance scale (generate's default)")
    p.add_argument("--cfg-mode", default="two-calls", choices=["two-calls", "batched"],
                   help="two-calls: two B=1 forwards per step, as WanT2V.generate; batched: one B=2 forward "
                   "(cond and uncond), as soragen's bench_dit")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--repeat", type=int, default=5, help="timed steps")
    p.add_argument("--seed", type=int, default=0, help="seed for the random weights (inputs use seed+1)")
    p.add_argument("--head-init", default="official", choices=["official", "xavier"],
                   help="official: init_weights zeroes head.head.weight, so outputs are exactly 0; xavier: "
                   "re-initialise it so outputs are non-trivial (for numerical comparisons)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU); default: torch's")
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "official"],
                   help="sdpa: patch flash_attention to torch SDPA; official: keep the upstream flash-attn path "
                   "(needs flash-attn)")
    p.add_argument("--sdpa-backend", default="auto", choices=["auto", "flash", "efficient", "cudnn", "math"],
                   help="restrict torch SDPA to one kernel during the step (auto: PyTorch chooses)")
    p.add_argument("--save-weights", default=None, metavar="FILE",
                   help="write the model's state_dict (official checkpoint key names, model dtype) as safetensors")
    p.add_argument("--check-attention", action="store_true",
                   help="before timing, compare the SDPA patch with an explicit-math reference (a unit case and "
                   "one model forward with a padded seq_len); exit 1 if the max abs diff exceeds --check-tol")
    p.add_argument("--check-tol", type=float, default=None, help="tolerance (default 1e-5 fp32, 5e-2 bf16)")
    p.add_argument("--check-seq-pad", type=int, default=5,
                   help="tokens of padding added to seq_len in the model check (exercises the key mask)")
    p.add_argument("--check-only", action="store_true", help="with --check-attention: stop after the check")
    args = p.parse_args(argv)
    for name in ("frames", "height", "width", "context_len", "negative_context_len", "repeat"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    if args.height % 8 or args.width % 8:
        p.error("--height and --width must be multiples of 8 (the VAE stride)")
    if args.check_only and not args.check_attention:
        p.error("--check-only needs --check-attention")
    if args.check_seq_pad < 0:
        p.error("--check-seq-pad must be >= 0")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be positive")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise UsageError(f"--device {args.device}: {e}") from e
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise UsageError("--device cuda but torch.cuda.is_available() is False")
    if not cuda and args.dtype != "fp32":
        raise UsageError(f"--dtype {args.dtype} needs CUDA: model.py keeps its fp32 regions with "
                         "torch.cuda.amp.autocast, which does nothing on CPU (its `e.dtype == float32` asserts "
                         "fail); use --dtype fp32")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if cuda:
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)

    ATTN_STATE["fp32"] = args.dtype == "fp32"
    param_dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    ctx_dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    use_autocast = args.dtype != "fp32"

    def amp_ctx():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if use_autocast else \
            contextlib.nullcontext()

    if args.sdpa_backend == "auto":
        sdpa_ctx = contextlib.nullcontext
    else:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                   "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[args.sdpa_backend]

        def sdpa_ctx():
            return sdpa_kernel([backend])

    model_mod, hashes = load_official(args.official, patch_attention=args.attention == "sdpa")
    wan_commit, commit_how = resolve_commit(args, hashes)
    attention_key = "sdpa-patched" if args.attention == "sdpa" else "flash-attn-official"

    print(f"official Wan2.1 WanModel from {os.path.abspath(args.official)}: commit {wan_commit} ({commit_how})")
    for name, h in hashes.items():
        print(f"  {name} sha256 {h}")
    print("  diffusers stubbed: diffusers.configuration_utils.{ConfigMixin, register_to_config}, "
          "diffusers.models.modeling_utils.ModelMixin (= torch.nn.Module)")
    if args.attention == "sdpa":
        print(f"  {ATTENTION_NOTE}" + ("; computed in fp32 (official flash would cast fp32 q/k/v to bf16)"
                                       if ATTN_STATE["fp32"] else "; bf16 like the official flash path"))
    print(f"torch {torch.__version__}, device {device}" +
          (f" ({torch.cuda.get_device_name(device)})" if cuda else f", {torch.get_num_threads()} threads"))

    t0 = time.perf_counter()
    model, kwargs = build_model(model_mod, args.config, args, device, param_dtype)
    if cuda:
        torch.cuda.synchronize(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"model: {os.path.basename(args.config)} dim {kwargs.get('dim')} layers {kwargs.get('num_layers')} "
          f"heads {kwargs.get('num_heads')}, {n_params / 1e6:.2f} M params, {n_bytes / 2**30:.2f} GiB "
          f"{str(param_dtype).replace('torch.', '')} weights, seeded random init (seed {args.seed}, "
          f"head {args.head_init}), built in {time.perf_counter() - t0:.1f} s")
    if args.context_len > model.text_len or args.negative_context_len > model.text_len:
        raise UsageError(f"context lengths must be at most text_len = {model.text_len}")

    if args.save_weights:
        t0 = time.perf_counter()
        size = save_safetensors(args.save_weights, model.state_dict(), {
            "format": "pt", "source": "soragen scripts/gpu_check/official_dit_step.py",
            "wan_commit": wan_commit, "seed": args.seed, "head_init": args.head_init,
            "config": json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()})})
        print(f"saved weights: {args.save_weights} ({size / 2**20:.1f} MiB, {len(model.state_dict())} tensors) in "
              f"{time.perf_counter() - t0:.1f} s")

    inp = make_inputs(model, args, device, ctx_dtype)
    print(f"inputs: {args.frames} frames {args.width}x{args.height} -> latent {list(inp['latent'])} fp32, "
          f"{inp['tokens']} tokens, seq_len {inp['seq_len']}; contexts [{args.context_len}, {model.text_dim}] and "
          f"[{args.negative_context_len}, {model.text_dim}] {str(ctx_dtype).replace('torch.', '')} (the model "
          f"zero-pads both to text_len {model.text_len} and cross-attends over all {model.text_len}); t = "
          f"{args.timestep}")
    how = ("two B=1 forwards (cond, uncond) as WanT2V.generate" if args.cfg_mode == "two-calls" else
           "one B=2 forward (cond+uncond batched)")
    print(f"step: {how} + CFG combine (g={args.guide_scale}), {'bf16 autocast' if use_autocast else 'no autocast'}, "
          f"no_grad; scheduler step skipped (a few elementwise ops)")

    check = None
    if args.check_attention:
        if args.attention != "sdpa":
            raise UsageError("--check-attention checks the SDPA patch; it needs --attention sdpa")
        check = run_attention_check(model_mod, model, inp, args, device, amp_ctx)
        if not check["pass"]:
            print("attention check FAILED", file=sys.stderr)
            return 1
        if args.check_only:
            return 0

    step = make_step(model, inp, args, device, amp_ctx, sdpa_ctx)
    for i in range(args.warmup):
        t0 = time.perf_counter()
        out = step()
        if cuda:
            torch.cuda.synchronize(device)
        print(f"  warmup {i + 1}: {time.perf_counter() - t0:.3f} s")
        del out

    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    seconds, wall = [], []
    finite = True
    for i in range(args.repeat):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            w0 = time.perf_counter()
            start.record()
            out = step()
            end.record()
            torch.cuda.synchronize(device)
            w = time.perf_counter() - w0
            s = start.elapsed_time(end) / 1000.0
        else:
            w0 = time.perf_counter()
            out = step()
            s = w = time.perf_counter() - w0
        finite = finite and bool(torch.isfinite(out).all())
        seconds.append(s)
        wall.append(w)
        print(f"  step {i + 1}: {s:.3f} s" + (f" (host wall {w:.3f} s)" if cuda else ""))
        del out
    peak = torch.cuda.max_memory_allocated(device) if cuda else None
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if not finite:
        print("warning: the step produced NaN or Inf", file=sys.stderr)

    med, mn = statistics.median(seconds), min(seconds)
    print(f"seconds per CFG step: {med:.3f} (median of {args.repeat}, min {mn:.3f})")
    if cuda:
        print(f"peak GPU memory allocated (timed steps, incl. weights): {peak / 2**30:.2f} GiB")
        seen = sorted(set(ATTN_STATE["backends_seen"].values()))
        if seen:
            print(f"SDPA kernel(s) PyTorch picked: {', '.join(seen)}")
    print(f"peak host RSS: {peak_rss / 2**20:.0f} MiB")
    if args.attention == "sdpa":
        print(f"note: {ATTENTION_NOTE}")

    result = {
        "impl": "official-wan2.1",
        "wan_commit": wan_commit,
        "device": (torch.cuda.get_device_name(device) if cuda else "cpu"),
        "dtype": args.dtype,
        "frames": args.frames,
        "height": args.height,
        "width": args.width,
        "seq_len": inp["seq_len"],
        "context_len": args.context_len,
        "negative_context_len": args.negative_context_len,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "step_seconds_median": med,
        "step_seconds_min": mn,
        "peak_bytes": peak,
        "attention": attention_key,
        # extras
        "config": os.path.basename(args.config),
        "tokens": inp["tokens"],
        "param_dtype": str(param_dtype).replace("torch.", ""),
        "autocast": "bf16" if use_autocast else None,
        "cfg_mode": args.cfg_mode,
        "sdpa_backend": args.sdpa_backend,
        "sdpa_kernels_picked": sorted(set(ATTN_STATE["backends_seen"].values())),
        "step_seconds_all": seconds,
        "host_wall_seconds_all": wall if cuda else None,
        "peak_rss_bytes": peak_rss,
        "scheduler_step": "skipped",
        "head_init": args.head_init,
        "seed": args.seed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads() if not cuda else None,
        "finite": finite,
        "attention_check": check,
    }
    sys.stderr.flush()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        print(f"official_dit_step.py: error: {e}", file=sys.stderr)
        sys.exit(2)
