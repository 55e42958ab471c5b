#!/usr/bin/env python3
"""Seed corpora for the fuzz targets of tests/fuzz, made from real small files
in tests/data and models/ (standard library only).

    scripts/fuzz_seeds.py OUT_DIR     # writes OUT_DIR/<target>/<seed files>
"""
import json
import pathlib
import struct
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def write(out, target, name, data):
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def small_safetensors(path, budget=4096):
    """The first tensors of a real file that fit in `budget` bytes, re-packed
    into a valid file: real headers (dtypes, shapes, metadata) at seed size."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out_header, blobs, offset = {}, [], 0
    if "__metadata__" in header:
        out_header["__metadata__"] = header.pop("__metadata__")
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if offset + end - begin > budget:
            continue
        out_header[name] = dict(entry, data_offsets=[offset, offset + end - begin])
        blobs.append(data[begin:end])
        offset += end - begin
        if len(out_header) >= 8:
            break
    text = json.dumps(out_header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main():
    out = pathlib.Path(sys.argv[1])
    for path in sorted((DATA / "io").glob("*.safetensors")):
        write(out, "safetensors", path.name, path.read_bytes())
    for path in sorted((DATA / "golden").glob("*.safetensors")) + sorted((ROOT / "models" / "default").glob("*.safetensors")):
        write(out, "safetensors", path.parent.name + "-" + path.name, small_safetensors(path))

    for path in sorted((DATA / "io").glob("*.pth")):
        write(out, "pth", path.name, path.read_bytes())
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if member.endswith("data.pkl"):
                        write(out, "unpickler", path.stem + ".pkl", archive.read(member))
        except zipfile.BadZipFile:
            pass  # truncated.pth: still a good seed for the zip reader

    model = ROOT / "models" / "default" / "model.json"
    write(out, "model_config", "default-model.json", model.read_bytes())
    manifest = json.loads(model.read_text())
    configs = ROOT / "models" / "configs"
    manifest["dit"]["config"] = json.loads((configs / "wan2.1-t2v-1.3b.json").read_text())
    manifest["vae"]["config"] = json.loads((configs / "wan2.1-vae.json").read_text())
    manifest["text_encoder"]["config"] = json.loads((configs / "umt5-xxl.json").read_text())
    manifest["defaults"] = {"frames": 17, "width": 64, "height": 64, "fps": 8, "steps": 4,
                            "guidance": 5.0, "shift": 3.0, "sampler": "unipc"}
    write(out, "model_config", "wan-configs-model.json", json.dumps(manifest, indent=1).encode())
    # fuzz_json_config: the first byte picks umT5 (0), DiT (1) or VAE (2).
    for kind, name in ((0, "umt5-xxl.json"), (1, "wan2.1-t2v-1.3b.json"), (2, "wan2.1-vae.json")):
        write(out, "json_config", name, bytes([kind]) + (configs / name).read_bytes())

    write(out, "prompt_file", "plain.txt",
          "# comment\na red fox in the snow\n\n\xef\xbb\xbf  waves at dusk \n".encode())
    write(out, "prompt_file", "lines.jsonl", "\n".join([
        json.dumps({"prompt": "a cat", "seed": 3, "frames": 17, "width": 64, "height": 64}),
        json.dumps({"prompt": "城市夜景", "negative_prompt": "blur", "steps": 4, "guidance": 4.5,
                    "shift": 2.0, "sampler": "euler", "fps": 12, "output": "out/{index}.mp4"}),
        '{"prompt": "broken"',
        json.dumps({"prompt": "too big", "width": 100000}),
    ]).encode() + b"\n")


if __name__ == "__main__":
    main()
