"""The "best N images" a report shows, chosen the one way a harness can say exactly: by the
trained D's raw score (higher = more real to D) among many samples of the G that scoring
uses, with D in eval mode. The random final images stay beside them (final/*.png), so a
reader sees both what D prefers and what G typically draws.

Written to final/best/: 000.png, 001.png, ... in D's order, and best.json saying how they
were chosen (candidates, seed, every chosen image's score, and the candidates' score
quantiles for context).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from .artifacts import save_final_images
from .results import write_json
from .sampling import to_float
from .updates import split_output

#: candidates drawn per image kept (at least MIN_CANDIDATES)
CANDIDATES_PER_IMAGE, MIN_CANDIDATES = 10, 64
SEED_OFFSET = 4242  # the candidates' seed, apart from the random final images' and the evaluations'


@torch.no_grad()
def d_scores(D: torch.nn.Module, images: torch.Tensor, labels: Optional[torch.Tensor], conditional: bool,
             device: torch.device, batch: int = 256) -> torch.Tensor:
    """D's raw score of each uint8 image, in eval mode (D's mode is restored)."""
    was = D.training
    D.eval()
    try:
        out = []
        for i in range(0, len(images), batch):
            x = to_float(images[i:i + batch].to(device))
            y = labels[i:i + batch].to(device) if conditional and labels is not None else None
            out.append(split_output(D(x, y))[0].float().flatten().cpu())
        return torch.cat(out)
    finally:
        D.train(was)


def save_best_images(trainer: Any, n: int, seed: int, class_names: Sequence[str], out: Path) -> dict[str, Any]:
    """Draw max(64, 10 n) samples of the scoring G, keep the n D scores highest; returns best.json's record."""
    k = max(MIN_CANDIDATES, CANDIDATES_PER_IMAGE * n)
    images, labels = trainer.sampler(min(k, 256), seed=seed + SEED_OFFSET)(k)
    scores = d_scores(trainer.D, images, labels, bool(trainer.conditional), trainer.device)
    order = torch.argsort(scores, descending=True, stable=True)[:n]
    out.mkdir(parents=True, exist_ok=True)
    save_final_images(images[order.to(images.device)].cpu(), None if labels is None else labels[order.to(labels.device)].cpu(),
                      class_names, out)
    q = torch.quantile(scores.double(), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)).tolist()
    record = {"selected_by": "the trained D's raw score, eval mode, higher = more real to D; the highest kept",
              "generator": trainer.sampling_description(), "candidates": k, "kept": len(order),
              "seed": seed + SEED_OFFSET, "scores": [round(float(scores[i]), 6) for i in order],
              "candidate_scores": {"min": q[0], "median": q[1], "max": q[2]},
              "random": "final/*.png: drawn at random with another seed, not selected"}
    write_json(out / "best.json", record)
    return record
