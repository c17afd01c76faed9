"""Exercise checks of the chapter on watermarks in the sand. Each runs the student's answer against the
reference and prints what is right or a hint about the likeliest mistake.
"""

from __future__ import annotations

import math

import numpy as np

from companion.core.checks import attempt, exercise_check, report, within

from .experiment import Watermark, green_lists, green_z_score


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


@exercise_check
def check_critical_tolerance(fn, sweep: dict | None = None) -> bool:
    """fn(tolerances, success_rates) -> the smallest tolerance at which at least half the texts escape
    detection, or None if there is none."""
    cases = [([0.0, 0.1, 0.2, 0.4], [0.0, 0.2, 0.6, 0.9], 0.2), ([0.0, 0.1, 0.2], [0.5, 0.8, 1.0], 0.0),
             ([0.0, 0.1, 0.2], [0.0, 0.1, 0.3], None), ([0.0, 0.05, 0.1, 0.2], [0.1, 0.55, 0.45, 0.9], 0.05)]
    if sweep is not None:
        for rates in sweep["success_rate"].values():
            want = next((t for t, r in zip(sweep["tolerance"], rates) if r >= 0.5), None)
            cases.append((list(sweep["tolerance"]), list(rates), want))
    for tolerances, rates, want in cases:
        got, problem = attempt(fn, list(tolerances), list(rates))
        if problem:
            return report(False, problem)
        if got is not None and (isinstance(got, bool) or not isinstance(got, (int, float, np.number))):
            return report(False, f"return one tolerance (a number) or None, got {got!r}.")
        if not (got is None and want is None or got is not None and want is not None and within(got, want, 1e-12)):
            hint = ("the first tolerance, in increasing order, whose success rate is at least 0.5; None when no "
                    "tolerance reaches it.")
            return report(False, f"for tolerances {tolerances} and success rates {rates} expected {want}, got {got}. "
                                  f"{hint}")
    measured = " and the chapter's measured sweep" if sweep is not None else ""
    return report(True, f"right on {len(cases)} sweeps (made-up ones{measured}).")


