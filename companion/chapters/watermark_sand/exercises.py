"""Exercise checks of the chapter on watermarks in the sand. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import math

import numpy as np

from companion.core.checks import attempt, exercise_check, report, within

from .experiment import QUALITY_SLACK
from .watermarks import Watermark, green_lists, green_z_score


@exercise_check
def check_kgw_z_score(fn) -> bool:
    """fn(tokens, green, gamma) -> the z-score of tokens[1:], token t scored green when
    green[tokens[t - 1], tokens[t]] is True."""
    rng = np.random.default_rng(0)
    checked = 0
    for gamma, V, n in ((0.25, 50, 40), (0.5, 30, 80), (0.1, 100, 25)):
        watermark = Watermark(scheme="kgw", gamma=gamma, vocab_size=V, key=7)
        green = green_lists(watermark).numpy()
        for _ in range(4):
            tokens = rng.integers(0, V, n)
            if rng.random() < 0.5:  # some texts tilted towards green, as a watermark would
                for t in range(1, n):
                    if rng.random() < 0.6:
                        tokens[t] = int(rng.choice(np.flatnonzero(green[tokens[t - 1]])))
            want = green_z_score(watermark, tokens[:-1], tokens[1:])
            got, problem = attempt(fn, tokens.tolist(), green.copy(), gamma, convert=float)
            if problem:
                return report(False, problem)
            checked += 1
            if not within(got, want, 1e-6):
                hits = int(green[tokens[:-1], tokens[1:]].sum())
                m = n - 1
                if abs(got - (hits - gamma * m) / (m * gamma * (1 - gamma))) < 1e-6:
                    hint = "divide by the standard deviation sqrt(n gamma (1 - gamma)), not the variance."
                elif abs(got - (hits - gamma * n) / math.sqrt(n * gamma * (1 - gamma))) < 1e-6:
                    hint = "the first token has no token before it: only n - 1 tokens are scored."
                elif abs(got - (hits - gamma * m) / math.sqrt(m * gamma)) < 1e-6:
                    hint = "a count of green tokens has variance n gamma (1 - gamma)."
                else:
                    hint = ("count green[tokens[t-1], tokens[t]] for t >= 1, subtract gamma n, divide by "
                            "sqrt(n gamma (1-gamma)).")
                return report(False, f"with gamma={gamma} and {n} tokens expected z = {want:.4f}, got {got:.4f}. "
                                      f"{hint}")
    return report(True, f"right on {checked} texts, watermarked and not.")


@exercise_check
def check_walk_step(fn) -> bool:
    """fn(text, propose, quality, original_quality, tolerance) -> the walk's next text: the proposal if
    quality(proposal) >= original_quality - tolerance, else the text unchanged."""
    cases = [  # (current quality, proposal quality, original quality, tolerance, accepted?)
        (-4.0, -4.05, -4.0, 0.1, True), (-4.0, -4.2, -4.0, 0.1, False), (-4.5, -4.3, -4.0, 0.1, False),
        (-3.0, -4.05, -4.0, 0.1, True), (-4.0, -4.1, -4.0, 0.1, True), (-4.0, -3.0, -4.0, 0.0, True),
    ]
    for current_quality, proposal_quality, original, tolerance, accepted in cases:
        text, proposal = ["a", "text"], ["a", "proposal"]
        scores = {tuple(text): current_quality, tuple(proposal): proposal_quality}
        got, problem = attempt(fn, list(text), lambda t: list(proposal), lambda t: scores[tuple(t)], original,
                                tolerance)
        if problem:
            return report(False, problem)
        if not isinstance(got, (list, tuple)):
            return report(False, f"return a text, a list of tokens (the proposal or the current text), got {got!r}.")
        if list(got) != (proposal if accepted else text):
            if accepted:
                hint = ("accept when quality(proposal) >= original_quality - tolerance; compare with the original "
                        "text's quality, not the current one's, and count equality as acceptance.")
            elif list(got) == proposal:
                hint = ("a proposal whose quality falls more than `tolerance` below the original must be rejected: "
                        "the walk stays where it was.")
            else:
                hint = "return the proposal itself when it is accepted, and the current text when it is not."
            return report(False, f"quality {proposal_quality} for the proposal, {original} for the original, "
                                  f"tolerance {tolerance}: expected the {'proposal' if accepted else 'current text'}. "
                                  f"{hint}")
    return report(True, f"right on {len(cases)} steps, accepted and rejected, including the boundary.")


def _erased_quality_kept(detected, nll_after, nll_original, slack) -> float:
    kept = [not d and after <= original + slack for d, after, original in zip(detected, nll_after, nll_original)]
    return sum(kept) / len(kept)


def measured_cases(result) -> list[tuple]:
    """(detected, nll_after, nll_original, slack) for every attack the chapter ran, from its result."""
    cases = []
    for m in result.metrics["schemes"].values():
        original = m["watermarked"]["judge_nll"]
        attacks = [a[kind] for a in m["attackers"].values() for kind in ("walk", "regeneration")] + [m["blind"]]
        for attack in attacks:
            detected = [score >= m["score_threshold"] for score in attack["scores"]]
            cases.append((detected, attack["judge_nll"], original, QUALITY_SLACK))
    return cases


@exercise_check
def check_erased_quality_kept(fn, result=None) -> bool:
    """fn(detected, nll_after, nll_original, slack) -> the share of texts the detector no longer flags
    and whose judge NLL after the attack is at most `slack` above the original's."""
    cases = [([True, False, False, False], [4.0, 4.2, 4.5, 4.1], [4.1, 4.1, 4.1, 4.1], 0.1),
             ([False, False], [5.0, 5.3], [5.0, 5.0], 0.0), ([True, True], [3.0, 3.0], [4.0, 4.0], 0.1),
             ([False, False, False], [4.0, 4.3, 4.25], [4.2, 4.2, 4.2], 0.05)]
    if result is not None:
        cases += measured_cases(result)
    for detected, after, original, slack in cases:
        want = _erased_quality_kept(detected, after, original, slack)
        got, problem = attempt(fn, list(detected), list(after), list(original), slack, convert=float)
        if problem:
            return report(False, problem)
        if not within(got, want, 1e-9):
            n = len(detected)
            if within(got, want * n, 1e-9) and n > 1:
                hint = "return a share of the texts (between 0 and 1), not a count."
            elif within(got, _erased_quality_kept([False] * n, after, original, slack), 1e-9):
                hint = "a text the detector still flags is not erased, whatever its quality."
            elif within(got, sum(not d for d in detected) / n, 1e-9):
                hint = "count only the erased texts whose quality was kept: NLL after <= NLL before + slack."
            elif within(got, sum(not d and a < o + slack for d, a, o in zip(detected, after, original)) / n, 1e-9):
                hint = "a text exactly `slack` worse still keeps its quality: use <=."
            else:
                hint = "lower NLL is better: a text keeps its quality when nll_after <= nll_original + slack."
            return report(False, f"for detected={detected}, after={after}, original={original} and slack={slack} "
                                  f"expected {want:.4f}, got {got:.4f}. {hint}")
    measured = " and every attack the chapter ran" if result is not None else ""
    return report(True, f"right on {len(cases)} sets of texts (made-up ones{measured}).")
