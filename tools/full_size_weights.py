"""Full-size SD 1.5 + ControlNet networks with random weights, in the diffusers folder layout.

For measurements that need the real architecture but no real checkpoint (none can be
downloaded here): memory (predicted vs measured peak), throughput, the GPU benches. The models
are built by the reference library itself (diffusers 0.42.1 / transformers 5.23.0) from the
published configurations of stable-diffusion-v1-5/stable-diffusion-v1-5 and
lllyasviel/control_v11p_sd15_inpaint, so key names and shapes are the real ones; the weights
are the libraries' default random initialisation (seeded). The output is useless as an image
model and only ever used for timing and memory.

    pyenv/bin/python tools/full_size_weights.py --out DIR [--fp16] [--seed 0] [--dust3r]

writes DIR/{unet,controlnet,vae,text_encoder}/ (config.json + safetensors; with --fp16 the
`.fp16.safetensors` variant), DIR/scheduler/scheduler_config.json and DIR/tokenizer/ (the
committed 1000-token test tokenizer: its ids are valid rows of the 49408-row embedding).
Run vanelia with `--weights DIR --controlnet DIR/controlnet`. With `--dust3r` it also writes
DIR/DUSt3R_ViTLarge_BaseDecoder_512_dpt/ (config.json + model.safetensors as the hub has them)
with the released architecture, built by the reference (mini-dust3r 0.1.2, installed as
tools/golden/regen.sh does); pass it as `--pose-weights`.
"""

import argparse
import pathlib
import shutil

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

ROOT = pathlib.Path(__file__).resolve().parent.parent

# stable-diffusion-v1-5 unet/config.json (the fields that differ from diffusers' defaults)
UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    block_out_channels=[320, 640, 1280, 1280],
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
)
# control_v11p_sd15_inpaint config.json: the UNet's encoder half plus the conditioning net
ENCODER_KEYS = ("in_channels", "block_out_channels", "down_block_types", "layers_per_block",
                "cross_attention_dim", "attention_head_dim", "norm_num_groups")
CONTROLNET = {k: UNET[k] for k in ENCODER_KEYS} | dict(
    conditioning_embedding_out_channels=[16, 32, 96, 256],
)
# stable-diffusion-v1-5 vae/config.json
VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
)
# stable-diffusion-v1-5 text_encoder/config.json (openai/clip-vit-large-patch14's text tower)
CLIP = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
    bos_token_id=0,
    eos_token_id=2,
)


# naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt config.json
DUST3R = dict(
    output_mode="pts3d",
    head_type="dpt",
    depth_mode=("exp", -float("inf"), float("inf")),
    conf_mode=("exp", 1, float("inf")),
    freeze="none",
    landscape_only=False,
    patch_embed_cls="PatchEmbedDust3R",
    img_size=(512, 512),
    pos_embed="RoPE100",
    enc_embed_dim=1024,
    enc_depth=24,
    enc_num_heads=16,
    dec_embed_dim=768,
    dec_depth=12,
    dec_num_heads=12,
)


def dust3r(out: pathlib.Path):
    from mini_dust3r.model import AsymmetricCroCo3DStereo

    model = AsymmetricCroCo3DStereo(**DUST3R).eval()
    with torch.no_grad():  # as the golden generator: keep expm1() of the depth head in range
        for name, value in model.state_dict().items():
            if name.startswith("downstream_head") and name.split(".")[-2] in ("4", "proj"):
                value.mul_(0.25)
    folder = out / "DUSt3R_ViTLarge_BaseDecoder_512_dpt"
    model.save_pretrained(folder)
    print(f"{folder.name}: {sum(p.numel() for p in model.parameters()):,} parameters")


def save(model, folder: pathlib.Path, fp16: bool):
    if fp16:
        model = model.to(torch.float16)
    model.save_pretrained(folder, safe_serialization=True, variant="fp16" if fp16 else None)
    print(f"{folder.name}: {sum(p.numel() for p in model.parameters()):,} parameters")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--fp16", action="store_true", help="write the .fp16.safetensors variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dust3r", action="store_true", help="also the DUSt3R 512 DPT tracker")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        save(UNet2DConditionModel(**UNET), out / "unet", args.fp16)
        save(ControlNetModel(**CONTROLNET), out / "controlnet", args.fp16)
        save(AutoencoderKL(**VAE), out / "vae", args.fp16)
        save(CLIPTextModel(CLIPTextConfig(**CLIP)), out / "text_encoder", args.fp16)
    scheduler = out / "scheduler"
    scheduler.mkdir(exist_ok=True)
    shutil.copy(
        ROOT / "tests/fixtures/golden/sd15/small/models/scheduler/scheduler_config.json",
        scheduler / "scheduler_config.json",
    )
    shutil.copytree(ROOT / "tests/fixtures/tokenizer_tiny", out / "tokenizer", dirs_exist_ok=True)
    if args.dust3r:
        with torch.no_grad():
            dust3r(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
