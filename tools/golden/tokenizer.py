"""Builds the tiny CLIP-style BPE tokenizer shipped with the test weights, and the reference
token ids the Rust tokenizer must reproduce.

The vocabulary is laid out as CLIP's: the 256 byte-level symbols, the same with "</w>", the
learned merges, then <|startoftext|> and <|endoftext|> as the last two ids (998 and 999, the
tiny text encoder's bos/eos). Merges are learned here on a fixed corpus with plain BPE, so
the files are reproducible. The reference ids come from transformers' CLIPTokenizer loaded
from vocab.json + merges.txt, and tokenizer.json is what transformers saves for it.

Usage: python tools/golden/tokenizer.py OUT_DIR [VOCAB_SIZE]
"""
import collections
import json
import os
import sys

import regex
from transformers import CLIPTokenizer

CORPUS = """a photo of a product on a wooden table, natural light, photorealistic, filmed with a
cinema camera. a bottle of perfume on the floor of a bright living room, soft shadows, 35mm film
grain. the red sneaker stands on the concrete street at sunset; reflections, bokeh, high detail.
a ceramic mug next to a laptop in an office, morning light through the window, depth of field.
product shot, studio lighting, sharp focus, realistic materials, physically based rendering."""
CORPUS += """
headphones resting on a marble countertop beside a kitchen sink, overcast daylight, muted colours.
an electric guitar leaning against a brick wall in a rehearsal space, tungsten lamps, warm glow.
handcrafted leather backpack hanging on a coat hook in a hallway, evening ambience, gentle contrast.
sparkling wristwatch displayed on velvet cushion inside jewellery boutique, specular highlights.
vintage typewriter sitting upon an oak writing desk, dusty library shelves behind, golden hour.
glossy smartphone lying face down near keys and sunglasses on a patio, dappled foliage shade.
quiet courtyard fountain, cobblestones glistening after rain, lanterns flickering, blue twilight.
translucent perfume atomizer, frosted glass, amber liquid, minimalist pedestal, cyan backdrop.
skateboard flipping mid-air above asphalt ramp, motion blur, hazy afternoon, suburban skatepark.
"""

PROMPTS = [
    "",
    "a photo of a product",
    "A Photo   of a PRODUCT, natural light!",
    "café crème — 35mm film grain 🎬",
    "product shot, studio lighting, sharp focus, realistic materials, physically based rendering "
    * 6,
    "  leading and trailing spaces  ",
    "it's the sneaker's 2nd shot",
]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


PAT = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def learn_merges(n_merges):
    byte_enc = bytes_to_unicode()
    words = collections.Counter()
    for w in PAT.findall(CORPUS.lower()):
        sym = [byte_enc[b] for b in w.encode("utf-8")]
        sym[-1] += "</w>"
        words[tuple(sym)] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return merges


def main():
    out = sys.argv[1]
    vocab_size = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    os.makedirs(out, exist_ok=True)
    base = list(bytes_to_unicode().values())
    tokens = base + [t + "</w>" for t in base]
    merges = learn_merges(vocab_size - 2 - len(tokens))
    tokens += ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == vocab_size, (len(tokens), vocab_size)
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tok = CLIPTokenizer(os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt"))
    tok.save_pretrained(out)
    ids = tok(PROMPTS, padding="max_length", max_length=77, truncation=True).input_ids
    with open(os.path.join(out, "reference_ids.json"), "w") as f:
        json.dump({"tokenizer": f"transformers {__import__('transformers').__version__} "
                                f"CLIPTokenizer", "prompts": PROMPTS, "input_ids": ids},
                  f, ensure_ascii=False, indent=1)
    print(f"{out}: vocab {vocab_size}, {len(merges)} merges, {len(PROMPTS)} reference prompts")


if __name__ == "__main__":
    main()
