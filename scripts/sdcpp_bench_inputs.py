#!/usr/bin/env python3
"""Inputs for scripts/bench_sdcpp.sh: random full-size Wan2.1 weights in the
files stable-diffusion.cpp reads, and stand-ins for the tokenizer vocabularies
a mirrored snapshot of it may lack. Standard library only (no numpy, no torch).

  sdcpp_bench_inputs.py weights OUT_DIR    # wan2.1_t2v_1.3B_f16, wan_2.1_vae_f16, umt5_xxl_f16 .safetensors
  sdcpp_bench_inputs.py vocab VOCAB_DIR    # headers for the src/tokenizers/vocab/*.hpp that are missing

Weights: the official Wan2.1 key names and shapes (DiT 1.3B: 1.419 B
parameters, 2.8 GB; VAE: 127 M, 0.25 GB), and umT5-XXL under the Hugging Face
T5 names (encoder.block.N.layer.0.SelfAttention.q, ...; 5.681 B, 11.4 GB), all
f16, as the Comfy-Org repackaged files come. Values are normal with std
1/sqrt(fan_in) (embeddings 1, norm scales 1, biases 0), drawn once per scale
into a 256 Ki-value pool that each tensor repeats from a random offset: the
cost of a forward pass does not depend on the values, and this writes the
14.5 GB in under a minute where drawing each value in pure Python would take
hours.

Vocabularies: some mirrors of the snapshot leave out the large generated
headers (the umT5 unigram vocabulary among them). Only their array names are
needed to compile; the umT5/T5 stand-in is a small unigram vocabulary (the
special tokens, then single characters). A prompt is always padded to 512
tokens before the encoder runs, so the vocabulary changes no cost measured.
"""
import json
import math
import os
import random
import re
import struct
import sys

POOL = 1 << 18


class Pools:
    """f16 little-endian bytes of POOL normal values per std, made on first use."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.unit = [self.rng.gauss(0.0, 1.0) for _ in range(POOL)]
        self.cache = {}

    def get(self, std):
        key = round(std, 9)
        if key not in self.cache:
            if std == 0.0:
                values = [0.0] * POOL
            elif std < 0:  # a constant, -std
                values = [-std] * POOL
            else:
                values = [v * std for v in self.unit]
            self.cache[key] = struct.pack("<%de" % POOL, *values)
        return self.cache[key]


def write_safetensors(path, tensors, pools, rng):
    """tensors: list of (name, shape, std); std 0 -> zeros, negative -> the constant -std."""
    header = {}
    offset = 0
    for name, shape, _ in tensors:
        nbytes = 2 * math.prod(shape)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape, std in tensors:
            pool = pools.get(std)
            left = 2 * math.prod(shape)
            start = 2 * rng.randrange(POOL)
            while left > 0:
                chunk = pool[start:start + left]
                f.write(chunk)
                left -= len(chunk)
                start = 0
    os.replace(tmp, path)
    return offset


def fan_in_std(shape):
    return 1.0 / math.sqrt(math.prod(shape[1:]))


def dit_tensors(dim=1536, ffn=8960, layers=30, in_dim=16, out_dim=16, text_dim=4096, freq_dim=256):
    t = []

    def linear(name, out_f, in_f, bias=True):
        t.append((name + ".weight", (out_f, in_f), 1.0 / math.sqrt(in_f)))
        if bias:
            t.append((name + ".bias", (out_f,), 0.0))

    t.append(("patch_embedding.weight", (dim, in_dim, 1, 2, 2), 1.0 / math.sqrt(in_dim * 4)))
    t.append(("patch_embedding.bias", (dim,), 0.0))
    linear("text_embedding.0", dim, text_dim)
    linear("text_embedding.2", dim, dim)
    linear("time_embedding.0", dim, freq_dim)
    linear("time_embedding.2", dim, dim)
    linear("time_projection.1", 6 * dim, dim)
    for i in range(layers):
        b = "blocks.%d." % i
        t.append((b + "modulation", (1, 6, dim), 1.0 / math.sqrt(dim)))
        for attn in ("self_attn", "cross_attn"):
            for p in "qkvo":
                linear(b + attn + "." + p, dim, dim)
            t.append((b + attn + ".norm_q.weight", (dim,), -1.0))
            t.append((b + attn + ".norm_k.weight", (dim,), -1.0))
        t.append((b + "norm3.weight", (dim,), -1.0))
        t.append((b + "norm3.bias", (dim,), 0.0))
        linear(b + "ffn.0", ffn, dim)
        linear(b + "ffn.2", dim, ffn)
    t.append(("head.modulation", (1, 2, dim), 1.0 / math.sqrt(dim)))
    linear("head.head", 4 * out_dim, dim)
    return t


def vae_tensors(dim=96, z_dim=16, dim_mult=(1, 2, 4, 4), num_res_blocks=2, temporal_down=(False, True, True)):
    """The Wan2.1 VAE (WanVAE_ of wan/modules/vae.py) state_dict names and shapes."""
    t = []

    def conv(name, out_c, in_c, kernel):
        shape = (out_c, in_c) + tuple(kernel)
        t.append((name + ".weight", shape, fan_in_std(shape)))
        t.append((name + ".bias", (out_c,), 0.0))

    def residual(name, in_c, out_c):
        t.append((name + ".residual.0.gamma", (in_c, 1, 1, 1), -1.0))
        conv(name + ".residual.2", out_c, in_c, (3, 3, 3))
        t.append((name + ".residual.3.gamma", (out_c, 1, 1, 1), -1.0))
        conv(name + ".residual.6", out_c, out_c, (3, 3, 3))
        if in_c != out_c:
            conv(name + ".shortcut", out_c, in_c, (1, 1, 1))

    def attention(name, c):
        t.append((name + ".norm.gamma", (c, 1, 1), -1.0))
        conv(name + ".to_qkv", 3 * c, c, (1, 1))
        conv(name + ".proj", c, c, (1, 1))

    dims = [dim * m for m in (1,) + tuple(dim_mult)]
    # encoder
    conv("encoder.conv1", dims[0], 3, (3, 3, 3))
    i = 0
    for level, (in_c, out_c) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(num_res_blocks):
            residual("encoder.downsamples.%d" % i, in_c, out_c)
            in_c = out_c
            i += 1
        if level != len(dim_mult) - 1:
            conv("encoder.downsamples.%d.resample.1" % i, out_c, out_c, (3, 3))
            if temporal_down[level]:
                conv("encoder.downsamples.%d.time_conv" % i, out_c, out_c, (3, 1, 1))
            i += 1
    residual("encoder.middle.0", dims[-1], dims[-1])
    attention("encoder.middle.1", dims[-1])
    residual("encoder.middle.2", dims[-1], dims[-1])
    t.append(("encoder.head.0.gamma", (dims[-1], 1, 1, 1), -1.0))
    conv("encoder.head.2", 2 * z_dim, dims[-1], (3, 3, 3))
    conv("conv1", 2 * z_dim, 2 * z_dim, (1, 1, 1))
    conv("conv2", z_dim, z_dim, (1, 1, 1))
    # decoder: dims reversed, temporal upsampling mirrors the downsampling
    ddims = [dim * m for m in (dim_mult[-1],) + tuple(reversed(dim_mult))]
    temporal_up = tuple(reversed(temporal_down))
    conv("decoder.conv1", ddims[0], z_dim, (3, 3, 3))
    residual("decoder.middle.0", ddims[0], ddims[0])
    attention("decoder.middle.1", ddims[0])
    residual("decoder.middle.2", ddims[0], ddims[0])
    i = 0
    for level, (in_c, out_c) in enumerate(zip(ddims[:-1], ddims[1:])):
        if level in (1, 2, 3):
            in_c //= 2  # the previous level's upsample halves the channels
        for _ in range(num_res_blocks + 1):
            residual("decoder.upsamples.%d" % i, in_c, out_c)
            in_c = out_c
            i += 1
        if level != len(dim_mult) - 1:
            conv("decoder.upsamples.%d.resample.1" % i, out_c // 2, out_c, (3, 3))
            if temporal_up[level]:
                conv("decoder.upsamples.%d.time_conv" % i, 2 * out_c, out_c, (3, 1, 1))
            i += 1
    t.append(("decoder.head.0.gamma", (ddims[-1], 1, 1, 1), -1.0))
    conv("decoder.head.2", 3, ddims[-1], (3, 3, 3))
    return t


def umt5_tensors(dim=4096, ffn=10240, heads=64, buckets=32, layers=24, vocab=256384):
    t = [("shared.weight", (vocab, dim), 1.0)]
    for i in range(layers):
        b = "encoder.block.%d.layer." % i
        for p in "qkvo":
            t.append((b + "0.SelfAttention.%s.weight" % p, (dim, dim), 1.0 / math.sqrt(dim)))
        t.append((b + "0.SelfAttention.relative_attention_bias.weight", (buckets, heads),
                  1.0 / math.sqrt(2.0 * buckets * heads)))
        t.append((b + "0.layer_norm.weight", (dim,), -1.0))
        t.append((b + "1.DenseReluDense.wi_0.weight", (ffn, dim), 1.0 / math.sqrt(dim)))
        t.append((b + "1.DenseReluDense.wi_1.weight", (ffn, dim), 1.0 / math.sqrt(dim)))
        t.append((b + "1.DenseReluDense.wo.weight", (dim, ffn), 1.0 / math.sqrt(ffn)))
        t.append((b + "1.layer_norm.weight", (dim,), -1.0))
    t.append(("encoder.final_layer_norm.weight", (dim,), -1.0))
    return t


def weights(out_dir, seed=0):
    os.makedirs(out_dir, exist_ok=True)
    pools = Pools(seed)
    rng = random.Random(seed + 1)
    for name, tensors in (("wan2.1_t2v_1.3B_f16.safetensors", dit_tensors()),
                          ("wan_2.1_vae_f16.safetensors", vae_tensors()),
                          ("umt5_xxl_f16.safetensors", umt5_tensors())):
        path = os.path.join(out_dir, name)
        params = sum(math.prod(s) for _, s, _ in tensors)
        if os.path.exists(path):
            print("%s: exists, kept" % path)
            continue
        nbytes = write_safetensors(path, tensors, pools, rng)
        print("%s: %d tensors, %.3f B parameters, %.2f GB" % (path, len(tensors), params / 1e9, nbytes / 1e9))


def unigram_vocab_json():
    pieces = [["<pad>", 0.0], ["</s>", 0.0], ["<s>", 0.0], ["<unk>", 0.0], ["\u2581", -2.0]]
    for c in map(chr, range(33, 127)):
        pieces.append(["\u2581" + c, -3.0])
        pieces.append([c, -4.0])
    return json.dumps({"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
                       "model": {"type": "Unigram", "unk_id": 3, "vocab": pieces}}, ensure_ascii=False)


def c_array(name, text):
    data = text.encode()
    rows = [",".join("0x%02x" % b for b in data[i:i + 32]) for i in range(0, len(data), 32)]
    return "static const unsigned char %s[] = {\n%s\n};\n" % (name, ",\n".join(rows))


def vocab(vocab_dir):
    source = open(os.path.join(vocab_dir, "vocab.cpp"), encoding="utf-8").read()
    includes = re.findall(r'#include\s+"(\w+\.hpp)"', source)
    used = list(dict.fromkeys(re.findall(r"reinterpret_cast<const char\s*\*>\((\w+)\)", source)))
    missing = [h for h in includes if not os.path.exists(os.path.join(vocab_dir, h))]
    if not missing:
        print("vocab: every header is present")
        return
    defined = set()
    for h in includes:
        path = os.path.join(vocab_dir, h)
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                defined.update(re.findall(r"unsigned char\s+(\w+)\s*\[\]", f.read(4096)))
    todo = [n for n in used if n not in defined]
    stub = "// Stand-in written by soragen's scripts/sdcpp_bench_inputs.py: the mirror lacks the real header.\n"
    arrays = ""
    for n in todo:
        if "t5_tokenizer_json" in n:
            arrays += c_array(n, unigram_vocab_json())
        elif "json" in n:
            arrays += c_array(n, "{}")
        else:
            arrays += c_array(n, "#version: 0.2\n")
    for i, h in enumerate(missing):
        with open(os.path.join(vocab_dir, h), "w", encoding="utf-8") as f:
            f.write(stub + (arrays if i == 0 else ""))
    print("vocab: wrote stand-ins for %s (arrays %s)" % (", ".join(missing), ", ".join(todo)))


def main(argv):
    if len(argv) != 3 or argv[1] not in ("weights", "vocab"):
        sys.exit("usage: sdcpp_bench_inputs.py weights OUT_DIR | vocab VOCAB_DIR")
    if argv[1] == "weights":
        weights(argv[2])
    else:
        vocab(argv[2])


if __name__ == "__main__":
    main(sys.argv)
