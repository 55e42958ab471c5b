#!/usr/bin/python3
"""Writes the small weights files the io tests read. Run with Debian's python3
(torch 1.13): /usr/bin/python3 tests/data/io/make_pth_fixtures.py

The values are simple formulas so tests/io/test_pth.cpp can recompute them.
"""
import collections
import json
import os
import pickle
import struct
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def state_dict():
    sd = collections.OrderedDict()
    sd["linear.weight"] = torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1
    half = torch.arange(12, dtype=torch.float16).reshape(3, 4) / 4
    sd["half"] = half
    sd["half_t"] = half.t()  # shares half's storage, not contiguous
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd["row"] = base[1]      # storage offset 4
    sd["col"] = base[:, 2]   # stride 4
    sd["bf16"] = torch.tensor([1.5, -2.25, 3.0e38], dtype=torch.bfloat16)
    sd["steps"] = torch.tensor([1, -2, 2**40], dtype=torch.int64)
    sd["i32"] = torch.tensor([-5, 7], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["f64"] = torch.tensor([0.1], dtype=torch.float64)
    sd["flag"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(3.25)
    sd["param"] = torch.nn.Parameter(torch.full((2,), 7.0))
    # What Module.state_dict() attaches; pickled through BUILD.
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    return sd


class Pwned:
    def __reduce__(self):
        return (os.system, ("touch /tmp/soragen_io_test_pwned",))


def write_evil(path):
    """A torch.save-shaped archive whose pickle calls os.system."""
    payload = pickle.dumps(collections.OrderedDict(x=Pwned()), protocol=2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", payload)
        z.writestr("evil/version", "3\n")


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main():
    torch.save(state_dict(), os.path.join(HERE, "state_dict.pth"))
    torch.save({"a": torch.tensor([1.0, 2.0]), "nested": {"b": torch.tensor([3], dtype=torch.int64)}, "epoch": 3},
               os.path.join(HERE, "plain_dict.pth"))
    with open(os.path.join(HERE, "state_dict.pth"), "rb") as f:
        whole = f.read()
    with open(os.path.join(HERE, "truncated.pth"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    write_evil(os.path.join(HERE, "evil.pth"))
    write_safetensors(
        os.path.join(HERE, "tiny.safetensors"),
        {
            "blocks.0.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
            "blocks.0.bias": ("F16", [2], struct.pack("<2e", 0.5, -1.0)),
            "head.weight": ("I64", [1], struct.pack("<q", 42)),
        },
        {"config": json.dumps({"dim": 3}), "description": "io test fixture"},
    )


if __name__ == "__main__":
    main()
