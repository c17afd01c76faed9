"""The watermark chapter: the detectors, the walk and the quality measures checked by hand, and the claims."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from companion import watermark_sand as ws

# ----------------------------------------------------------------------------- the detectors, by hand

def test_green_lists_have_exactly_gamma_v_green_tokens():
    kgw = ws.green_lists(ws.Watermark(scheme="kgw", gamma=0.25, vocab_size=40))
    assert (kgw.sum(1) == 10).all() and not (kgw == kgw[0]).all()
    unigram = ws.green_lists(ws.Watermark(scheme="unigram", gamma=0.25, vocab_size=40))
    assert (unigram.sum(1) == 10).all() and (unigram == unigram[0]).all()
    other_key = ws.green_lists(ws.Watermark(scheme="kgw", gamma=0.25, vocab_size=40, key=1))
    assert not torch.equal(kgw, other_key)


def test_z_score_is_standard_without_a_watermark_and_large_with_one():
    watermark = ws.Watermark(scheme="kgw", vocab_size=200)
    rng = np.random.default_rng(0)
    null = [ws.green_z_score(watermark, rng.integers(0, 200, 100), rng.integers(0, 200, 100)) for _ in range(400)]
    assert abs(np.mean(null)) < 0.2 and 0.8 < np.std(null) < 1.2
    previous = rng.integers(0, 200, 100)
    green = ws.green_lists(watermark)
    all_green = np.array([int(np.flatnonzero(green[u].numpy())[0]) for u in previous])
    expected = (100 - 25) / math.sqrt(100 * 0.25 * 0.75)
    assert ws.green_z_score(watermark, previous, all_green) == pytest.approx(expected)


def naive_levenshtein(costs, gap):
    """The same alignment by the textbook recursion, one cell at a time."""
    n, L = costs.shape
    best = math.inf
    D = [[0.0] * (L + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        D[i][0] = i * gap
        for j in range(1, L + 1):
            D[i][j] = min(D[i - 1][j - 1] + costs[i - 1, j - 1], D[i - 1][j] + gap, D[i][j - 1] + gap)
    for j in range(1, L + 1):
        best = min(best, D[n][j])
    return best


def test_levenshtein_statistic_matches_the_textbook_recursion():
    generator = torch.Generator().manual_seed(0)
    costs = torch.log1p(-torch.rand(3, 7, 11, generator=generator)).double()
    fast = ws.levenshtein_statistic(costs, gap=0.7)
    for k in range(3):
        assert float(fast[k]) == pytest.approx(naive_levenshtein(costs[k].numpy(), 0.7))


def test_exponential_sampling_is_distributed_as_the_model():
    """argmax xi^(1/p) over a fresh uniform xi is a sample from p: no distortion, one key at a time."""
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    xi = torch.rand(40000, 4, generator=torch.Generator().manual_seed(0))
    chosen = (xi.log() / p).argmax(-1)
    frequencies = torch.bincount(chosen, minlength=4).float() / len(chosen)
    assert torch.allclose(frequencies, p, atol=0.01)


def test_exponential_detection_finds_its_key_and_not_another():
    watermark = ws.Watermark(scheme="exp", vocab_size=50, key_length=64)
    xi = ws.key_sequence(watermark)
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(40, 50, generator=generator)
    offset = 17
    marked = np.array([int((xi[(offset + t) % 64].log() / logits[t].softmax(-1)).argmax()) for t in range(40)])
    statistic, p_value = ws.exp_p_value(watermark, marked, generator)
    assert p_value <= ws.P_THRESHOLD
    unrelated = torch.randint(0, 50, (40,), generator=generator).numpy()
    assert ws.exp_p_value(watermark, unrelated, generator)[1] > 0.05
    edited = marked.copy()
    edited[::4] = unrelated[::4]  # a quarter of the tokens replaced: the alignment still finds the key
    assert ws.exp_p_value(watermark, edited, generator)[1] <= ws.P_THRESHOLD


# ----------------------------------------------------------------------------- the text and the walk

def test_tokens_and_text():
    assert ws.tokenize("Return the __name__ of x, or None.") == ["return", "the", "__name__", "of", "x", ",", "or",
                                                                   "none", "."]
    assert ws.detokenize(["call", "f", "(", "x", ")", "."]) == "call f (x)."
    vocabulary = ws.vocabulary(300)
    assert vocabulary.words[0] == ws.UNKNOWN and vocabulary.size == 300
    ids = vocabulary.encode(["the", "zzzz-not-a-word"])
    assert ids[1] == 0 and vocabulary.decode(ids)[0] == "the"


def test_the_four_parts_of_the_text_are_disjoint_and_cover_it():
    parts = ws.split_ids(300)
    assert set(parts) == {"generator", "attack", "judge", "prompts"}
    assert sum(len(p) for p in parts.values()) == len(ws.corpus_tokens())
    assert all(len(parts[name]) > 50000 for name in ws.MODEL_PARTS)
    # dealt in whole blocks: no 2,000-token block of the stream is shared by two parts
    stream = ws.vocabulary(300).encode(ws.corpus_tokens())
    blocks = {bytes(block.tobytes()): i for i, block in enumerate(np.array_split(stream, len(stream) // 2000))}
    owners = {name: {blocks[bytes(block.tobytes())] for block in np.array_split(parts[name], len(parts[name]) // 2000)
                     if bytes(block.tobytes()) in blocks} for name in parts}
    for a in parts:
        for b in parts:
            assert a == b or not owners[a] & owners[b], (a, b)


def test_unigram_detection_scores_each_distinct_token_once():
    """Zhao et al.'s score: a text that repeats one green word is one green token, not n of them."""
    watermark = ws.Watermark(scheme="unigram", vocab_size=200)
    green_word = int(np.flatnonzero(ws.green_lists(watermark)[0].numpy())[0])
    text = torch.tensor([5] * 4 + [green_word] * 40)
    found = ws.detect(watermark, text, 4, torch.Generator().manual_seed(0))
    assert found["statistic"] == pytest.approx((1 - 0.25) / math.sqrt(0.25 * 0.75))
    assert not found["detected"]


@pytest.fixture(scope="module")
def tiny_models():
    config = ws.ModelConfig(vocab_size=300, width=16, heads=2, context=32, steps=30)
    return ws.language_model(config)[0], ws.language_model(dataclasses.replace(config, part="attack"))[0]


def test_a_walk_step_changes_only_one_span_after_the_prompt(tiny_models):
    _, attack_model = tiny_models
    generator = torch.Generator().manual_seed(0)
    texts = torch.randint(1, 300, (6, 20), generator=generator)
    for perturbation in ws.PERTURBATIONS:
        attack = ws.Attack(span=3, candidates=3, perturbation=perturbation)
        proposal = ws.propose(attack_model, texts, 5, attack, ws.word_frequencies(300), generator)
        changed = proposal != texts
        assert not changed[:, :5].any()
        for row in changed:
            where = torch.nonzero(row)[:, 0]
            assert len(where) == 0 or where.max() - where.min() < 3


def test_the_filler_reads_the_same_logits_from_its_window_as_from_the_text_before_the_span(tiny_models):
    """The filler's logits for position p are the model's next-token logits after the FILL_CONTEXT
    tokens before p: never a state that has seen the token being replaced, or fewer tokens than that."""
    model, _ = tiny_models
    texts = torch.randint(1, 300, (4, 32), generator=torch.Generator().manual_seed(1))
    assert torch.equal(ws.row_windows(texts, torch.tensor([0, 3, 5, 8]), 12)[2], texts[2, 5:17])
    positions = torch.tensor([1, 9, ws.FILL_CONTEXT, 31])
    with torch.no_grad():
        got = ws.fill_logits(model, texts, positions)
        for row, p in enumerate(positions.tolist()):
            before = texts[row:row + 1, max(0, p - ws.FILL_CONTEXT):p]
            want = model.unembed(ws.hidden_states(model, before)[0, -1])
            assert torch.allclose(got[row], want, atol=1e-4), (row, p)


def test_the_walk_moves_only_where_the_oracle_accepts(tiny_models):
    """Every step either keeps the text or moves to one the oracle scores no worse than the original
    (less the tolerance); on this fixture the oracle rejects some proposals and accepts others, so the
    test would see a walk that ignores it."""
    proposer, oracle = tiny_models
    generator = torch.Generator().manual_seed(0)
    texts = torch.randint(1, 300, (8, 20), generator=generator)
    attack = ws.Attack(steps=6, span=2, tolerance=0.0, record_every=1)
    walk = ws.random_walk(proposer, oracle, texts, 5, attack, ws.word_frequencies(300), generator)
    snapshots = walk["snapshots"]
    assert walk["steps"] == list(range(7)) and len(snapshots) == 7
    with torch.no_grad():
        original = ws.oracle_quality(oracle, texts, 5)
        moved = stayed = 0
        for before, after in zip(snapshots[:-1], snapshots[1:]):
            changed = (before != after).any(1)
            moved, stayed = moved + int(changed.sum()), stayed + int((~changed).sum())
            assert (ws.oracle_quality(oracle, after[changed], 5) >= original[changed] - 1e-5).all()
    assert moved > 0 and stayed > 0, (moved, stayed)
    assert torch.allclose(walk["acceptance_rate"] * 6, torch.tensor(
        [float(sum((a != b).any() for a, b in zip(snapshots[:-1, i], snapshots[1:, i]))) for i in range(8)]))


def test_diversity_measures_by_hand():
    texts = torch.tensor([[9, 9, 1, 2, 1, 2], [9, 9, 3, 3, 3, 3]])
    assert ws.distinct_2(texts, 2).tolist() == pytest.approx([2 / 3, 1 / 3])
    assert ws.unique_ratio(texts, 2).tolist() == pytest.approx([0.5, 0.25])


def test_the_discriminator_tells_different_sets_apart_and_not_alike_ones():
    rng = np.random.default_rng(0)
    prompts = np.arange(40)
    alike = ws.discriminator_auc(rng.normal(size=(40, 5)), prompts, rng.normal(size=(80, 5)), np.repeat(prompts, 2))
    shifted = ws.discriminator_auc(rng.normal(size=(40, 5)) + 1.0, prompts, rng.normal(size=(80, 5)),
                                   np.repeat(prompts, 2))
    assert 0.35 < alike < 0.65 and shifted > 0.9, (alike, shifted)


# ----------------------------------------------------------------------------- the claims at test scale

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def found():
    return {seed: ws.run(ws.config_for("test", seed)) for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_every_attacker_is_weaker_than_the_generator_and_no_model_shares_text(found, seed):
    models = found[seed].metrics["models"]
    assert all(a["loss"] > models["generator_loss"] for a in models["attackers"]), models
    config = ws.config_for("test", seed)
    assert {config.generator.part, config.judge.part, config.oracle.part} == set(ws.MODEL_PARTS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scheme", ws.SCHEMES)
def test_watermarks_are_detected_and_plain_text_is_not(found, seed, scheme):
    m = found[seed].metrics["schemes"][scheme]
    assert m["detect_rate"] >= 0.75, m
    assert m["false_positive_rate"] <= 1 / 12, m


@pytest.mark.parametrize("seed", SEEDS)
def test_false_positives_are_paired_with_the_watermarked_prompts(found, seed):
    result = found[seed]
    config = ws.config_for("test", seed)
    P = config.prompt_length
    plain, prompts = result.arrays["plain"], result.arrays["prompts"]
    assert torch.equal(plain[:, :P], prompts.repeat_interleave(config.plain_per_prompt, 0))
    assert torch.equal(result.arrays["kgw_walk"][0][:, :P], prompts)
    assert len(result.metrics["schemes"]["kgw"]["scores_unwatermarked"]) == len(plain)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_discriminator_cannot_tell_two_plain_samples_apart_but_sees_a_weak_regeneration(found, seed):
    m = found[seed].metrics
    weakest = m["attackers"][-1]
    # 12 texts against 24: the AUC of two samples of one kind scatters by about 0.11 around 0.5 here
    assert abs(m["plain"]["discriminator_auc"] - 0.5) < 0.3, m["plain"]
    null = m["discriminator_null"]
    assert len(null) == ws.NULL_DRAWS and 0.35 < np.median(null) < 0.65 and max(null) < 0.9, null
    for scheme in ws.SCHEMES:
        assert m["schemes"][scheme]["attackers"][weakest]["regeneration"]["discriminator_auc"] > 0.85


@pytest.mark.parametrize("seed", SEEDS)
def test_the_oracle_binds_and_binds_harder_on_weaker_attackers(found, seed):
    m = found[seed].metrics
    for scheme in ws.SCHEMES:
        rates = [m["schemes"][scheme]["attackers"][name]["acceptance_rate"] for name in m["attackers"]]
        assert max(rates) < 0.95 and rates == sorted(rates, reverse=True), rates


@pytest.mark.parametrize("seed", SEEDS)
def test_the_strongest_walk_erases_the_green_list_watermarks(found, seed):
    m = found[seed].metrics
    strongest = m["attackers"][0]
    for scheme in ("kgw", "unigram"):
        walk = m["schemes"][scheme]["attackers"][strongest]["walk"]
        assert walk["erased"] >= 0.75, walk
        trace = np.median(np.array(walk["score_trace"]), axis=1)
        assert trace[0] >= m["schemes"][scheme]["score_threshold"] > trace[-1]


@pytest.mark.slow
@pytest.mark.book_scale
def test_book_scale_meets_the_chapter_claims():
    """The page's claims on the run it shows (from the cache the book build fills)."""
    result = ws.run(ws.config_for("book", 0))
    m = result.metrics
    assert all(a["loss"] > m["models"]["generator_loss"] for a in m["models"]["attackers"])
    assert 0.35 < m["plain"]["discriminator_auc"] < 0.65
    strongest = m["attackers"][0]
    for scheme, s in m["schemes"].items():
        assert s["detect_rate"] >= 0.8 and s["false_positive_rate"] <= 0.05, (scheme, s)
        rates = [s["attackers"][name]["acceptance_rate"] for name in m["attackers"]]
        assert max(rates) < 0.9 and rates == sorted(rates, reverse=True), (scheme, rates)  # the oracle binds
    assert min(m["schemes"][s]["attackers"][strongest]["walk"]["erased"] for s in ("kgw", "unigram")) >= 0.9
    assert np.mean([m["schemes"][s]["attackers"][strongest]["walk"]["erased"] for s in ws.SCHEMES]) >= 0.5
    compared = ws.walk_against_regeneration(result)
    for name in m["attackers"]:  # the paper's point: a weaker attacker's walk beats its own regeneration
        assert compared[name]["difference"]["ci"][0] > 0, (name, compared[name])


def test_live_widget_retrains_with_the_controls_settings(found, capsys):
    """The widget's defaults are the test-scale run (read from the cache), and its report names each
    attacker's walk and regeneration; a changed control reaches the run's config."""
    box = ws.live_widget(scale="test")
    controls = {w.description: w for row in box.children[:-2] for w in row.children}
    assert set(controls) == {"scheme", "gamma", "delta", "span", "temperature", "tolerance"}
    box.children[-2].children[0].click()
    text = "".join(o.get("text", "") for o in box.children[-1].outputs) + capsys.readouterr().out
    assert "regenerating erased" in text and text.count("attacker width") == 3, text


def test_scores_come_from_the_right_key(found):
    """Detection of one scheme's text with another scheme's detector finds nothing: the statistic is not
    high by construction."""
    config = ws.config_for("test", 0)
    generator = torch.Generator().manual_seed(0)
    kgw_texts = found[0].arrays["kgw_walk"][0]
    for other in ("unigram", "exp"):
        rates = [ws.detect(config.watermark(other), text, config.prompt_length, generator)["detected"]
                 for text in kgw_texts]
        assert np.mean(rates) <= 1 / 12
    for scheme in ws.SCHEMES:  # the same scheme with another key finds nothing either
        texts = found[0].arrays[f"{scheme}_walk"][0]
        wrong = dataclasses.replace(config.watermark(scheme), key=config.watermark(scheme).key + 1)
        rates = [ws.detect(wrong, text, config.prompt_length, generator)["detected"] for text in texts]
        assert np.mean(rates) <= 1 / 12, (scheme, rates)


def test_the_page_sentences_follow_the_measurements(found):
    """The verdicts flip when the numbers do: a walk no better than regeneration, and walked texts the
    discriminator cannot tell from unwatermarked ones."""
    import copy

    from conftest import page_problems

    report = ws.summarise(found[SEEDS[0]])
    assert page_problems(ws.page_values(report)) == []
    doctored = copy.deepcopy(report)
    names = [attacker["name"] for attacker in report["models"]["attackers"]]
    for name in names:
        doctored["walk_against_regeneration"][name]["difference"] = {"mean": -0.2, "ci": [-0.3, -0.1], "n": 12}
        for scheme in ws.SCHEMES:
            doctored[scheme][name]["walk"]["discriminator_auc"] = min(report["plain"]["discriminator_null"])
            doctored[scheme][name]["walk"]["erased"] = 1.0
    changed = ws.page_values(doctored)
    assert "does not beat regeneration" in changed["versus"] and "loses to" in changed["versus"]
    assert "And the quality is kept" in changed["quality"]
    assert "tells none of the walks' texts" in changed["alignment"]
    assert [claim.verdict for claim in ws.claims(doctored)] == ["reproduced", "reproduced", "departs"]
    for scheme in ws.SCHEMES:
        doctored[scheme][names[0]]["walk"]["discriminator_auc"] = 1.0
    assert ws.claims(doctored)[1].verdict == "departs"


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("build, named", [
    (lambda: ws.Watermark(scheme="rainbow"), "scheme"), (lambda: ws.Watermark(gamma=1.0), "gamma"),
    (lambda: ws.Watermark(delta=-1.0), "delta"), (lambda: ws.Attack(perturbation="loud"), "perturbation"),
    (lambda: ws.Attack(span=0), "span"), (lambda: ws.Attack(temperature=0), "temperature"),
    (lambda: ws.ModelConfig(part="everything"), "part"), (lambda: ws.Config(new_tokens=100), "new_tokens"),
    (lambda: ws.Config(texts=0), "texts"), (lambda: ws.Attack(lookahead=0), "lookahead"),
    (lambda: ws.Config(attackers=()), "attackers"), (lambda: ws.Config(plain_per_prompt=1), "plain_per_prompt"),
    (lambda: ws.Config(oracle=ws.ModelConfig(part="generator")), "oracle"),
])
def test_bad_settings_name_the_parameter(build, named):
    with pytest.raises(ValueError, match=named):
        build()

