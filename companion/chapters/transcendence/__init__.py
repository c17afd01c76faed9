"""Transcendence: a model trained on several experts can beat all of them when it samples cold.

After Zhang, Zhu, Saphra, Kleiman, Edelman, Tambe, Kakade and Malach (2024). A model trained with
cross-entropy on the pooled moves of experts f_1..f_k learns their mixture; sampling it at
temperature tau gives softmax(log f / tau), which tends to the mixture's argmax (a vote among the
experts) as tau -> 0. The story, in the order of its files:

1. `toy.py`: the exact toy world: finitely many states, experts written down as distributions, every
   reward an exact expectation; denoising, and diverse against shared errors;
2. `players.py`: chess: a one-ply reference player (material and piece-square scores), experts that
   copy it except on their own error positions, and a two-ply material judge of every move
   (Stockfish as a second judge, and a rung of the ladder, where it is installed);
3. `policy.py`: the experts' games (PGN), and a board transformer trained on their moves, illegal
   moves masked;
4. `ladder.py`: exact expected rewards on held-out positions with paired intervals, and games on a
   ladder of diluted reference players with maximum-likelihood Elo ratings (Glicko-2 as a
   cross-check); `experiment.py` evaluates every temperature, plays games out and trains the controls;
5. `analysis.py`: the chapter's runs, their paired intervals and the report `reproduce` returns;
   `page.py`: the page's sentences and tables, from that report;
6. `figures.py`: figures, the temperature explorer, live widgets (the toy's knobs; a game against
   the model); `exercises.py`: the exercise checks.

This file is the chapter's public face: its notebook and the command line call every name through
it, looked up in the files in the order above, each file imported only when the search reaches it.
"""

from companion.core.lazy import names_from_parts

PARTS = ("toy", "players", "policy", "ladder", "experiment", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
