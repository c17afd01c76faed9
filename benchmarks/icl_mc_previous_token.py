"""The official ICL-MC model's first-layer attention on the previous token after training, measured as
the induction-heads chapter measures its own (`previous_token_score`): the mean over queries t >= 1 of the
attention on t - 1, and its value at a few queries along the sequence.

Run it from a checkout of the official code (github.com/EzraEdelman/Evolution-of-Statistical-Induction-Heads),
outside this repository, with one thread:

    cd CHECKOUT && python /path/to/benchmarks/icl_mc_previous_token.py K ITERATIONS LEARNING_RATE SEED

It trains `training_pipeline.train` at its default configuration (two attention-only layers, width 16,
T = 100, batch 64, dropout 0.1, relative-position vectors in the query-key product) with K states,
ITERATIONS steps and LEARNING_RATE (the default trainer's is 5e-4), then scores 256 fresh chains.
"""

import math
import os
import sys

import torch
from torch.nn import functional as F

QUERIES = (1, 10, 40, 99)


def first_layer_attention(model, tokens: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T) attention of the official model's first layer, dropout off, as its forward computes it."""
    layer = model.layers[0]
    x = model.wte(tokens)
    B, T, C = x.shape
    H = layer.n_head
    normed = layer.ln(x)
    q = layer.Q(normed).view(B, T, H, C // H).transpose(1, 2)
    k = layer.K(normed).view(B, T, H, C // H).transpose(1, 2)
    vectors = layer.wpe(layer.pos[:T, :T]).view(T, T, H, C // H)
    scores = (q @ k.transpose(-2, -1) + torch.einsum("Tthe,BhTe->BhTt", vectors, q)) / math.sqrt(C // H)
    return F.softmax(scores.masked_fill(layer.bias[:, :, :T, :T] == 0, float("-inf")), -1)


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the official checkout's modules, from where the command runs
    import datasets
    import training_pipeline as pipeline

    torch.set_num_threads(1)
    k, iterations, lr, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    config = pipeline.get_default_config()
    config.vocab_size, config.max_iters, config.num_workers, config.seed = k, iterations, 0, seed
    config.learning_rate = lr
    history, _ = pipeline.train(config)
    chains = datasets.ngrams("train", 2, config.block_size + 1, k)
    torch.manual_seed(1234)
    tokens = torch.stack([chains[0][0][:config.block_size] for _ in range(256)])
    model = history[-1].eval()
    with torch.no_grad():
        previous = first_layer_attention(model, tokens).diagonal(offset=-1, dim1=-2, dim2=-1)  # (B, H, T - 1)
    by_query = previous.mean((0, 1))
    print(f"k={k} steps={iterations} lr={lr} seed={seed}: mean {previous.mean():.3f}; "
          + ", ".join(f"t={t} {by_query[t - 1]:.2f}" for t in QUERIES))


if __name__ == "__main__":
    main()
