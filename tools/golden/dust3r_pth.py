"""Writes an original-style DUSt3R checkpoint (`torch.save({"model": state_dict, "args": Namespace})`)
next to each DPT fixture model, from the reference's full state dict
(`state_dict_all_keys.safetensors`: every name, layer_rn aliases as copies), so that the
`.pth` loading path is tested on a file shaped like the released ones.

Usage: python tools/golden/dust3r_pth.py CASE_DIR
"""
import argparse
import json
import pathlib
import sys

import torch
from safetensors.torch import load_file


def main(case: pathlib.Path) -> None:
    manifest = json.loads((case / "manifest.json").read_text())
    for name, model in manifest["config"]["models"].items():
        folder = case / model["dir"]
        full = folder / "state_dict_all_keys.safetensors"
        if not full.is_file():
            continue
        state = load_file(str(full))
        config = json.loads((folder / "arch.json").read_text())
        args = argparse.Namespace(model=f"AsymmetricCroCo3DStereo({config['head_type']}, tiny)")
        torch.save({"model": state, "args": args, "epoch": 0}, folder / "model.pth")
        print(f"wrote {folder / 'model.pth'} ({len(state)} tensors)")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
