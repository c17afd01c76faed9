"""The two model families the chapters configure: a small transformer and a two-layer MLP.

Shapes are written as B (batch), T (positions), D (width), H (heads), K (vocabulary).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import check_choice, check_int

POSITIONAL = ("relative", "relative-vector", "learned", "none")


class SelfAttention(nn.Module):
    """Multi-head self-attention with an optional learned bias per head and relative offset.

    The relative bias b[h, t - s] is added to the score of query t on key s: a head can then
    attend "one step back" without reading any content, which a previous-token head needs.
    With `relative_vectors` (causal only) the score gains q_t . r[t - s] instead, a learned vector per
    offset inside the query-key product, as in the statistical induction heads paper's code: how far
    back a position looks can then depend on what it holds.
    """

    def __init__(self, d_model: int, n_heads: int, max_len: int, relative: bool, causal: bool,
                 relative_vectors: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads, got {d_model} and {n_heads}")
        if relative_vectors and not causal:
            raise ValueError("relative_vectors needs causal attention (offsets t - s >= 0)")
        self.n_heads, self.causal = n_heads, causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.relative_bias = nn.Parameter(torch.zeros(n_heads, max_len)) if relative else None
        self.relative_vectors = nn.Parameter(torch.randn(max_len, d_model) * 0.02) if relative_vectors else None
        offsets = torch.arange(max_len)[:, None] - torch.arange(max_len)[None, :]  # (max_len, max_len): t - s
        self.register_buffer("offsets", offsets, persistent=False)

    def position_bias(self, T: int) -> torch.Tensor | None:
        """(H or 1, T, T): the relative bias plus -inf above the diagonal when causal, added once;
        None when there is neither."""
        if self.relative_bias is None and not self.causal:
            return None
        offsets = self.offsets[:T, :T]  # (T, T)
        bias = torch.zeros(1, T, T, device=offsets.device)  # (1, T, T)
        if self.relative_bias is not None:
            bias = self.relative_bias[:, offsets.clamp(min=0)]  # (H, T, T)
        if self.causal:
            bias = bias.masked_fill(offsets < 0, float("-inf"))  # (H or 1, T, T)
        return bias

    def vector_scores(self, q: torch.Tensor) -> torch.Tensor:
        """(B, H, T, T): q_t . r[t - s] for every query t and key s <= t (keys after t get offset 0's,
        which the causal mask removes): one product with every offset's vector, then a gather."""
        T = q.shape[2]
        vectors = self.relative_vectors[:T].view(T, self.n_heads, -1).transpose(0, 1)  # (H, offsets, D/H)
        by_offset = q @ vectors.transpose(-1, -2)  # (B, H, T, offsets)
        return by_offset.gather(-1, self.offsets[:T, :T].clamp(min=0).expand_as(by_offset))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, D = x.shape
        H = self.n_heads
        q, k, v = self.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)  # each (B, H, T, D/H)
        # scaling q rather than the (B, H, T, T) scores is T / (D/H) times less work, forward and backward;
        # the bias is added in place, as the product's backward does not need the product
        q = q * (1 / math.sqrt(D // H))  # (B, H, T, D/H)
        scores = q @ k.transpose(-1, -2)  # (B, H, T, T)
        if self.relative_vectors is not None:
            scores = scores + self.vector_scores(q)  # (B, H, T, T)
        bias = self.position_bias(T)  # (H or 1, T, T), or None
        attention = (scores if bias is None else scores.add_(bias)).softmax(dim=-1)  # (B, H, T, T)
        mixed = (attention @ v).transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.out(mixed), attention  # (B, T, D), (B, H, T, T)


class Block(nn.Module):
    def __init__(self, d_model, n_heads, max_len, relative, causal, attention_only, layer_norm,
                 relative_vectors=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
        self.attention = SelfAttention(d_model, n_heads, max_len, relative, causal, relative_vectors)
        self.mlp = None
        if not attention_only:
            self.norm2 = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
            self.mlp = nn.Sequential(
                nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
            )

    def forward(self, x):
        mixed, attention = self.attention(self.norm1(x))  # (B, T, D), (B, H, T, T)
        x = x + mixed  # (B, T, D)
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))  # (B, T, D)
        return x, attention


class Transformer(nn.Module):
    """A small decoder: token embedding, `n_layers` blocks, a linear read-out.

    ``forward`` returns logits (B, T, K) and a list with each layer's attention (B, H, T, T).
    """

    def __init__(self, vocab_size: int, d_model: int = 16, n_layers: int = 2, n_heads: int = 1,
                 max_len: int = 128, positional: str = "relative", causal: bool = True,
                 attention_only: bool = True, layer_norm: bool = False, init_std: float | None = None):
        super().__init__()
        check_int("vocab_size", vocab_size, 2)
        check_int("d_model", d_model, 1)
        check_int("n_layers", n_layers, 1)
        check_int("n_heads", n_heads, 1)
        check_choice("positional", positional, POSITIONAL)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_len, d_model) if positional == "learned" else None
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, max_len, positional == "relative", causal, attention_only,
                  layer_norm, relative_vectors=positional == "relative-vector")
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model) if layer_norm else nn.Identity()
        self.unembed = nn.Linear(d_model, vocab_size, bias=False)
        if init_std is not None:  # GPT-style small weights: predictions start close to uniform
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(module.weight, std=init_std)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.embed(tokens)  # (B, T, D)
        if self.position is not None:
            x = x + self.position(torch.arange(tokens.shape[1], device=tokens.device))  # (B, T, D)
        attentions = []
        for block in self.blocks:
            x, attention = block(x)  # (B, T, D), (B, H, T, T)
            attentions.append(attention)
        return self.unembed(self.norm(x)), attentions  # (B, T, K), a (B, H, T, T) per layer


ACTIVATIONS = ("relu", "gelu", "tanh", "square", "cube", "quartic")


def activation(name: str):
    check_choice("activation", name, ACTIVATIONS)
    powers = {"square": 2, "cube": 3, "quartic": 4}
    if name in powers:
        p = powers[name]
        return lambda z: z**p
    return {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}[name]


class MLP(nn.Module):
    """A two-layer perceptron, d_in -> width -> d_out.

    With ``sparsity=s`` each hidden neuron starts with only s non-zero input weights, on
    coordinates drawn at random (the sparse initialisation of the Pareto-frontiers chapter).
    """

    def __init__(self, d_in: int, width: int, d_out: int = 1, activation_name: str = "relu",
                 bias: bool = True, sparsity: int | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_int("d_in", d_in, 1)
        check_int("width", width, 1)
        check_int("d_out", d_out, 1)
        if sparsity is not None:
            check_int("sparsity", sparsity, 1, d_in)
        self.act = activation(activation_name)
        self.hidden = nn.Linear(d_in, width, bias=bias)
        self.readout = nn.Linear(width, d_out, bias=bias)
        if generator is not None:
            with torch.no_grad():
                for layer in (self.hidden, self.readout):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    if layer.bias is not None:
                        layer.bias.uniform_(-bound, bound, generator=generator)
        if sparsity is not None:
            with torch.no_grad():
                self.hidden.weight.mul_(sparse_mask(width, d_in, sparsity, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.act(self.hidden(x)))  # (..., d_in) -> (..., width) -> (..., d_out)


def sparse_mask(rows: int, cols: int, per_row: int, generator: torch.Generator | None = None):
    """A (rows, cols) 0/1 mask with exactly `per_row` ones per row, on random columns."""
    scores = torch.rand(rows, cols, generator=generator)  # (rows, cols)
    chosen = scores.topk(per_row, dim=1).indices  # (rows, per_row)
    return torch.zeros(rows, cols).scatter_(1, chosen, 1.0)  # (rows, cols)


INITS = ("uniform", "gaussian", "sign")
PARAMETRIZATIONS = ("standard", "mean-field")


class EnsembleMLP(nn.Module):
    """R independent two-layer perceptrons evaluated as one batched network.

    Every parameter carries a leading replicate axis R, so one matrix product per layer trains R
    runs (seeds, or grid cells of one shape) at the cost of about one: small networks on a CPU are
    dominated by per-call overhead, not by arithmetic. Replicate i is initialised from
    ``generators[i]`` alone, so it is the same network whichever others it is batched with.

    ``init``: "uniform" is PyTorch's default for ``nn.Linear`` (U(±1/sqrt(fan_in)) for weights and
    biases); "gaussian" draws N(0, 1/fan_in) weights and zero biases; "sign" draws ±1/sqrt(fan_in)
    weights and zero biases (the initialisation the hidden-progress theory analyses). ``sparsity=s``
    keeps only s random non-zero input weights per hidden neuron at initialisation, scaled up by
    sqrt(d_in / s) so that pre-activations start with the same spread as a dense neuron's.

    ``parametrization``: "standard" is nn.Linear's; "mean-field" draws read-out weights of order 1 and
    divides the output by the width, so that each neuron's contribution, and how fast it learns at a
    learning rate scaled by the width, do not depend on how many other neurons there are: a wider
    network is more independent attempts at the same feature, not a different model.

    Shapes: input (R, B, d_in) -> output (R, B, d_out).
    """

    def __init__(self, replicates: int, d_in: int, width: int, d_out: int = 1, activation_name: str = "relu",
                 bias: bool = True, init: str = "uniform", sparsity: int | None = None,
                 generators: list[torch.Generator] | None = None, parametrization: str = "standard"):
        super().__init__()
        check_int("replicates", replicates, 1)
        check_int("d_in", d_in, 1)
        check_int("width", width, 1)
        check_int("d_out", d_out, 1)
        check_choice("init", init, INITS)
        check_choice("parametrization", parametrization, PARAMETRIZATIONS)
        if sparsity is not None:
            check_int("sparsity", sparsity, 1, d_in)
        if generators is None:
            generators = [torch.Generator().manual_seed(int(torch.randint(2**62, (1,)))) for _ in range(replicates)]
        if len(generators) != replicates:
            raise ValueError(f"need one generator per replicate: {replicates}, got {len(generators)}")
        self.act = activation(activation_name)
        layers = [_init_layer(d_in, width, bias, init, sparsity, g) + _init_layer(width, d_out, bias, init, None, g)
                  for g in generators]
        w1, b1, w2, b2 = (torch.stack(column) for column in zip(*layers))
        self.output_scale = 1.0
        if parametrization == "mean-field":
            w2, b2 = w2 * math.sqrt(width), torch.zeros_like(b2)
            self.output_scale = 1.0 / width
        self.hidden = nn.Parameter(w1)  # (R, width, d_in)
        self.readout = nn.Parameter(w2)  # (R, d_out, width)
        self.hidden_bias = nn.Parameter(b1) if bias else None  # (R, width)
        self.readout_bias = nn.Parameter(b2) if bias else None  # (R, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x @ self.hidden.transpose(1, 2)  # (R, B, width)
        if self.hidden_bias is not None:
            pre = pre + self.hidden_bias[:, None]  # (R, B, width)
        out = self.act(pre) @ self.readout.transpose(1, 2) * self.output_scale  # (R, B, d_out)
        if self.readout_bias is not None:
            out = out + self.readout_bias[:, None]  # (R, B, d_out)
        return out


def _init_layer(fan_in: int, fan_out: int, bias: bool, init: str, sparsity: int | None,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    bound = 1 / math.sqrt(fan_in)
    if init == "uniform":
        weight = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        offset = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound if bias else torch.zeros(fan_out)
    elif init == "gaussian":
        weight, offset = torch.randn(fan_out, fan_in, generator=generator) * bound, torch.zeros(fan_out)
    else:
        signs = torch.randint(0, 2, (fan_out, fan_in), generator=generator) * 2 - 1
        weight, offset = signs.float() * bound, torch.zeros(fan_out)
    if sparsity is not None:
        weight = weight * sparse_mask(fan_out, fan_in, sparsity, generator) * math.sqrt(fan_in / sparsity)
    return weight, offset
