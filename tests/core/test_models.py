import pytest
import torch

from companion.core.models import MLP, Transformer, sparse_mask


def test_transformer_shapes_and_causality():
    torch.manual_seed(0)
    model = Transformer(vocab_size=5, d_model=16, n_layers=2, n_heads=2, max_len=32)
    tokens = torch.randint(5, (3, 20))
    logits, attentions = model(tokens)
    assert logits.shape == (3, 20, 5)
    assert len(attentions) == 2 and attentions[0].shape == (3, 2, 20, 20)
    assert torch.allclose(attentions[1].sum(-1), torch.ones(3, 2, 20))
    assert torch.all(attentions[0].triu(1) == 0)  # no position attends to the future
    changed = tokens.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 5
    assert torch.allclose(model(changed)[0][:, :10], logits[:, :10], atol=1e-6)


def test_relative_bias_can_make_a_previous_token_head():
    model = Transformer(vocab_size=3, d_model=8, n_layers=1, max_len=16)
    with torch.no_grad():
        model.blocks[0].attention.qkv.weight.zero_()
        model.blocks[0].attention.relative_bias[0, 1] = 20.0
    _, (attention,) = model(torch.randint(3, (1, 10)))
    assert attention[0, 0].diagonal(offset=-1).min() > 0.99


def test_relative_vectors_can_make_a_previous_token_head_and_need_causal_attention():
    model = Transformer(vocab_size=3, d_model=8, n_layers=1, max_len=16, positional="relative-vector")
    layer = model.blocks[0].attention
    with torch.no_grad():  # every query the same vector, aligned with offset 1's vector only
        layer.qkv.weight.zero_()
        model.embed.weight.fill_(1.0)
        layer.qkv.weight[0, :] = 1.0  # q = (8, 0, ..., 0) on every position (no layer norm here)
        layer.relative_vectors.zero_()
        layer.relative_vectors[1, 0] = 10.0
    _, (attention,) = model(torch.randint(3, (1, 10)))
    assert attention[0, 0].diagonal(offset=-1).min() > 0.99
    with pytest.raises(ValueError, match="causal"):
        Transformer(vocab_size=3, d_model=8, n_layers=1, max_len=16, positional="relative-vector", causal=False)


def test_mlp_sparse_initialisation_has_s_inputs_per_neuron():
    generator = torch.Generator().manual_seed(0)
    net = MLP(d_in=30, width=50, sparsity=2, generator=generator)
    assert torch.all((net.hidden.weight != 0).sum(1) == 2)
    assert net(torch.randn(4, 30)).shape == (4, 1)
    mask = sparse_mask(10, 6, 3, torch.Generator().manual_seed(1))
    assert torch.all(mask.sum(1) == 3)


def test_mlp_init_is_seeded():
    a = MLP(d_in=4, width=8, generator=torch.Generator().manual_seed(5))
    b = MLP(d_in=4, width=8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.hidden.weight, b.hidden.weight)


def textbook_attention(layer, x: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + relative bias, causal mask) v, written out as the papers write it."""
    B, T, D = x.shape
    H = layer.n_heads
    q, k, v = layer.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / (D // H) ** 0.5
    offsets = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    if layer.relative_bias is not None:
        scores = scores + layer.relative_bias[:, offsets.clamp(min=0)]
    if layer.relative_vectors is not None:  # q_t . r[t - s], as the statistical induction heads code writes it
        vectors = layer.relative_vectors[offsets.clamp(min=0)].view(T, T, H, D // H)
        scores = scores + torch.einsum("tshe,bhte->bhts", vectors, q) / (D // H) ** 0.5
    if layer.causal:
        scores = scores.masked_fill(offsets < 0, float("-inf"))
    return layer.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


@pytest.mark.parametrize("positional, causal", [("relative", True), ("relative-vector", True), ("learned", True),
                                                ("learned", False)])
@pytest.mark.parametrize("d_model, n_heads", [(16, 1), (32, 4)])  # head widths 16 (an exact 1/4) and 8
def test_attention_and_its_gradients_match_the_textbook_formula(positional, causal, d_model, n_heads):
    torch.manual_seed(0)
    model = Transformer(vocab_size=5, d_model=d_model, n_heads=n_heads, max_len=32, layer_norm=True,
                        positional=positional, causal=causal)
    layer = model.blocks[0].attention
    for position in (layer.relative_bias, layer.relative_vectors):
        if position is not None:
            torch.nn.init.normal_(position)
    x = torch.randn(3, 20, d_model, requires_grad=True)
    ours, reference = layer(x)[0], textbook_attention(layer, x)
    ours_grads = torch.autograd.grad(ours.square().sum(), [x, *layer.parameters()])
    reference_grads = torch.autograd.grad(reference.square().sum(), [x, *layer.parameters()])
    # scaling by 1/4 commutes with every rounding; the vectors' products are summed in another order
    exact = d_model // n_heads == 16 and positional != "relative-vector"
    for got, want in zip((ours, *ours_grads), (reference, *reference_grads)):
        assert torch.equal(got, want) if exact else torch.allclose(got, want, rtol=1e-5, atol=1e-6)
