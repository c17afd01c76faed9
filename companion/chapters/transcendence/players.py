"""Chess for the transcendence chapter: the rules' scores, the reference player and its
experts, Stockfish where installed, games, and the board as the model sees it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import chess
import chess.engine
import chess.pgn
import chess.polyglot
import numpy as np

# ============================================================================= chess
#
# The same story with real games. A reference player (one ply, material and piece-square scores) is
# good and easy to imitate; each expert plays like it except on its own error region, where it plays
# a bad move; a transformer learns from the experts' games; sampling it colder approaches the vote.

PIECE_VALUES = np.array([0, 100, 320, 330, 500, 900, 0])  # centipawns, by python-chess piece type (1 = pawn)
MATE_SCORE = 2000  # what a checkmate is worth in the reward, in centipawns
ADJUDICATION_MARGIN = 300  # at the move limit, a side ahead by this much material wins
RESIGN_MARGIN = 500  # a side this far behind in material for three plies in a row resigns
RESIGN_PLIES = 3
# the page's boards draw the model's moves with at least this much of its probability as arrows
ARROW_SHARE = 0.1


def _piece_square_tables() -> np.ndarray:
    """(7, 64) centipawn bonuses by piece type and square, from White's side (a1 = 0, h8 = 63).

    Written as formulas rather than tables of numbers: pawns gain as they advance, more in the centre;
    knights and bishops like the centre; rooks like the seventh rank; the queen mildly likes the
    centre; the king stays on its back rank, best beside a corner (where it castles to)."""
    rank, file = np.divmod(np.arange(64), 8)
    centre = np.maximum(np.abs(rank - 3.5), np.abs(file - 3.5)) - 0.5  # 0 on the four centre squares .. 3
    tables = np.zeros((7, 64))
    tables[1] = 8 * np.clip(rank - 1, 0, None) + 10 * ((file == 3) | (file == 4)) * (rank >= 2)
    tables[2] = -15 * centre
    tables[3] = -8 * centre
    tables[4] = 15 * (rank == 6)
    tables[5] = -4 * centre
    tables[6] = -12 * rank + 10 * np.isin(file, [1, 2, 6])
    return tables


PIECE_SQUARE = _piece_square_tables()
# the same tables as Python integers (every entry is a whole number of centipawns), for the per-move
# lookups: indexing a numpy array and adding its scalars costs several times as much
_VALUE = [int(v) for v in PIECE_VALUES]
_SQUARE = [[int(v) for v in row] for row in PIECE_SQUARE]


def _square_from_side(square: int, color: bool) -> int:
    """The square as the side `color` sees it (Black's squares mirrored top to bottom)."""
    return square if color else square ^ 56


def candidate_moves(board):
    """The legal moves, with under-promotions left out: every player, and the model, promote to a queen."""
    return [m for m in board.legal_moves if m.promotion in (None, 5)]


def move_gain(board, move, blind=()) -> int:
    """The mover's gain in material and piece-square score, in centipawns, from playing `move`; captures
    of the piece types in `blind` count for nothing (an expert's blind spot)."""
    color = board.turn
    mirror = 0 if color else 56  # `_square_from_side`, written out: this runs millions of times a chapter
    piece = board.piece_type_at(move.from_square)
    src, dst = move.from_square ^ mirror, move.to_square ^ mirror
    gain = _SQUARE[piece][dst] - _SQUARE[piece][src]
    if move.promotion:
        gain += _VALUE[move.promotion] - _VALUE[1] + _SQUARE[move.promotion][dst] - _SQUARE[1][dst]
    captured_square = move.to_square
    if board.is_en_passant(move):
        captured_square = move.to_square + (-8 if color else 8)
    captured = board.piece_type_at(captured_square)
    if captured and captured not in blind:
        gain += _VALUE[captured] + _SQUARE[captured][captured_square ^ (56 - mirror)]
    if piece == chess.KING and abs(move.to_square - move.from_square) == 2:  # castling moves a rook too
        rook_from, rook_to = (7, 5) if move.to_square > move.from_square else (0, 3)
        gain += _SQUARE[4][rook_to] - _SQUARE[4][rook_from]
    return gain


def reference_move(board, moves=None, blind=()):
    """The reference player: the candidate with the largest one-ply gain. Ties (a fifth of positions:
    many quiet moves gain the same) go to the move that lands furthest up the board as the mover sees
    it, then to the furthest-up starting square: a rule a model can learn, unlike an arbitrary order."""
    moves = candidate_moves(board) if moves is None else moves
    mirror = 0 if board.turn else 56  # `_square_from_side`, written out
    keys = [(move_gain(board, m, blind), m.to_square ^ mirror, m.from_square ^ mirror) for m in moves]
    return moves[max(range(len(moves)), key=keys.__getitem__)]


def move_rewards(board, moves=None) -> np.ndarray:
    """Each candidate's reward, in pawns: the mover's material and piece-square gain over two plies,
    its move and the opponent's best one-ply reply (a mate is worth MATE_SCORE, a stalemate 0).

    The reference player looks one ply ahead, so this judge sees what it misses: a capture that loses
    the capturing piece."""
    moves = candidate_moves(board) if moves is None else moves
    rewards = np.empty(len(moves))
    for i, move in enumerate(moves):
        gain = move_gain(board, move)
        board.push(move)
        replies = candidate_moves(board)
        if replies:
            gain -= max(move_gain(board, reply) for reply in replies)
        else:
            gain = MATE_SCORE if board.is_check() else 0
        board.pop()
        rewards[i] = gain / 100
    return rewards


def material_balance(board) -> int:
    """White's material minus Black's, in centipawns."""
    return sum(_VALUE[p] * ((board.pieces_mask(p, chess.WHITE)).bit_count()
                            - (board.pieces_mask(p, chess.BLACK)).bit_count()) for p in range(1, 6))


def _unit_hash(*keys: int) -> float:
    """A number in [0, 1) that looks uniform and depends on nothing but the keys."""
    return float(np.random.SeedSequence([k % 2**64 for k in keys]).generate_state(1, np.uint64)[0]) / 2**64


# ----------------------------------------------------------------------------- the players

ERRORS = ("hashed", "blind-spot")
MODEL_KINDS = ("board", "sequence")


def position_key(board) -> int:
    return chess.polyglot.zobrist_hash(board)


BLIND_SPOTS = ({1, 2}, {3, 4}, {5})  # pawns and knights; bishops and rooks; queens


class ReferencePlayer:
    """The reference player, playing a uniformly random candidate instead with probability `random_rate`:
    the rungs of the rating ladder."""

    def __init__(self, random_rate: float = 0.0):
        self.random_rate = random_rate
        self.name = "reference" if random_rate == 0 else f"reference, {random_rate:.0%} random"

    def choose(self, boards, rngs, candidates=None):
        chosen = []
        for board, rng, moves in zip(boards, rngs, candidates or map(candidate_moves, boards)):
            if rng.random() < self.random_rate:
                chosen.append(moves[rng.integers(len(moves))])
            else:
                chosen.append(reference_move(board, moves))
        return chosen


class Expert:
    """The reference player with errors of its own: a deterministic function of the position.

    errors="hashed": on a share `error_rate` of positions, picked by hashing the position with the
    expert's number, it plays a candidate picked by another hash: a random-looking move no board feature
    predicts. With diversity "shared" both hashes leave out the expert's number: the experts err on the
    same positions (the weaker ones on more of them, nested) and play the same wrong move there.
    errors="blind-spot": a systematic error a model can learn: the expert does not see captures of
    one group of pieces (pawns and knights; bishops and rooks; queens, by expert number; with "shared",
    pawns and knights for every expert) and otherwise plays like the reference."""

    def __init__(self, index: int, error_rate: float, errors: str, diversity: str, seed: int):
        self.index, self.error_rate, self.errors, self.diversity, self.seed = index, error_rate, errors, diversity, seed
        self.name = f"expert {index + 1}"
        self.blind = BLIND_SPOTS[0 if diversity == "shared" else index % len(BLIND_SPOTS)]

    @property
    def _who(self) -> int:
        return 0 if self.diversity == "shared" else self.index + 1

    def errs(self, board, key: int | None = None) -> bool:
        """Whether this is one of the positions where the expert's hashed errors fall (`key`: the
        board's `position_key`, where the caller has it already)."""
        key = position_key(board) if key is None else key
        return _unit_hash(key, self.seed, self._who) < self.error_rate

    def move(self, board, moves=None):
        moves = candidate_moves(board) if moves is None else moves
        if self.errors == "blind-spot":
            return reference_move(board, moves, blind=self.blind)
        key = position_key(board)
        if not self.errs(board, key):
            return reference_move(board, moves)
        return moves[int(_unit_hash(key, self.seed, 1000 + self._who) * len(moves))]

    def choose(self, boards, rngs, candidates=None):
        return [self.move(board, moves) for board, moves in zip(boards, candidates or map(candidate_moves, boards))]


class Committee:
    """Each move made by an expert drawn at random, independently of the game so far: a position then
    says nothing about which expert moves next. (In a game between two fixed experts it can: the pieces
    an expert left hanging are a fingerprint of its blind spot, and a model learns to recognise it.)"""

    name = "random expert"

    def __init__(self, experts: list):
        self.experts = experts

    def choose(self, boards, rngs, candidates=None):
        return [self.experts[rng.integers(len(self.experts))].move(board, moves)
                for board, rng, moves in zip(boards, rngs, candidates or map(candidate_moves, boards))]


STOCKFISH_RUNG = "stockfish, depth 1"
STOCKFISH_JUDGE_DEPTH = 4


def find_stockfish() -> str | None:
    """The Stockfish binary: $STOCKFISH, else `stockfish` on the PATH, else Debian's /usr/games/stockfish."""
    for candidate in (os.environ.get("STOCKFISH"), shutil.which("stockfish"), "/usr/games/stockfish"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def open_stockfish():
    path = find_stockfish()
    if path is None:
        raise RuntimeError("stockfish=True but no Stockfish binary was found: install it (Debian: apt-get install "
                           "stockfish) or set STOCKFISH to its path")
    engine = chess.engine.SimpleEngine.popen_uci(path)
    engine.configure({"Threads": 1})
    return engine


class StockfishPlayer:
    """Stockfish searching one ply deep (plus its quiescence search), a new game for every move so that
    its choice depends on the position alone: the top rung of the ladder, where Stockfish is installed."""

    name = STOCKFISH_RUNG

    def __init__(self, engine):
        self.engine = engine
        self.calls = 0

    def choose(self, boards, rngs, candidates=None):
        chosen = []
        for board in boards:
            self.calls += 1
            move = self.engine.play(board, chess.engine.Limit(depth=1), game=self.calls).move
            if move.promotion not in (None, chess.QUEEN):  # every player promotes to a queen
                move = chess.Move(move.from_square, move.to_square, chess.QUEEN)
            chosen.append(move)
        return chosen


def stockfish_rewards(engine, board, moves, key: int) -> np.ndarray:
    """Each candidate's reward by Stockfish: its evaluation, in pawns from the mover's side (a mate
    counts 20), of the position after the move, from one multi-line search of depth
    STOCKFISH_JUDGE_DEPTH (a new game per position, so that the result depends on the position alone)."""
    lines = engine.analyse(board, chess.engine.Limit(depth=STOCKFISH_JUDGE_DEPTH), multipv=500, game=key)
    score = {}
    for line in lines:
        first = line["pv"][0]
        value = line["score"].pov(board.turn).score(mate_score=MATE_SCORE) / 100
        score.setdefault((first.from_square, first.to_square), float(np.clip(value, -20, 20)))
    return np.array([score[(m.from_square, m.to_square)] for m in moves])


# ----------------------------------------------------------------------------- games

@dataclass
class Game:
    """One finished game: its moves (UCI), who played, White's score and how it ended."""

    white: str
    black: str
    moves: list
    score: float
    termination: str

    def pgn(self, event: str = "") -> str:
        board = chess.Board()
        for uci in self.moves:
            board.push_uci(uci)
        game = chess.pgn.Game.from_board(board)
        game.headers.update(Event=event, White=self.white, Black=self.black,
                            Result={1.0: "1-0", 0.0: "0-1", 0.5: "1/2-1/2"}[self.score], Termination=self.termination)
        return game.accept(chess.pgn.StringExporter(columns=80))


def _finished(board, ply: int, max_plies: int, behind: int = 0):
    """(White's score, how it ended) when the game is over, else None. `behind` counts the plies in a
    row that one side has been RESIGN_MARGIN or more behind in material (negative: White behind)."""
    if abs(behind) >= RESIGN_PLIES:
        return (1.0 if behind > 0 else 0.0), "resigned"
    if not any(True for _ in board.legal_moves):
        if board.is_check():
            return (0.0 if board.turn else 1.0), "checkmate"
        return 0.5, "stalemate"
    if board.is_insufficient_material() or board.halfmove_clock >= 100:
        return 0.5, "draw"
    if ply >= max_plies:  # adjudicate on material: weak players rarely finish a game
        balance = material_balance(board)
        if abs(balance) >= ADJUDICATION_MARGIN:
            return (1.0 if balance > 0 else 0.0), "adjudicated on material"
        return 0.5, "adjudicated drawn"
    return None


def play_games(pairings: list[tuple], seed: int, opening_plies: int, max_plies: int,
               resign: bool = True, on_move=None, numbers: list[int] | None = None) -> list[Game]:
    """Play every (white, black) pairing to the end, all games in lock step, so that a model player
    chooses its moves for all the games where it is to move in one batch.

    Each game opens with `opening_plies` uniformly random moves from its own generator (so no two games
    are alike), then the players alternate. With `resign`, a side RESIGN_MARGIN behind in material for
    RESIGN_PLIES plies in a row loses (rated games); without, games run to the end or to `max_plies`
    (the experts' games, which are training data). Game g draws its opening from a generator seeded
    with (seed, numbers[g]) (default: g), so a game does not depend on which others it is played with.
    Each position's candidate moves are generated once and handed to the player, as
    `player.choose(boards, rngs, candidates)`, and to `on_move(game_number, board, move, player, candidates)`,
    which is called before each player's move (to collect training positions)."""
    boards = [chess.Board() for _ in pairings]
    rngs = [np.random.default_rng([seed, g]) for g in (range(len(pairings)) if numbers is None else numbers)]
    for board, rng in zip(boards, rngs):
        for _ in range(opening_plies):
            moves = candidate_moves(board)
            if not moves:
                break
            board.push(moves[rng.integers(len(moves))])
    results: dict[int, tuple] = {}
    behind = [0] * len(boards)  # plies in a row with Black (> 0) or White (< 0) far behind in material
    while len(results) < len(boards):
        to_move: dict[int, list[int]] = {}
        for g, board in enumerate(boards):
            if g in results:
                continue
            balance = material_balance(board)
            sign = (balance >= RESIGN_MARGIN) - (balance <= -RESIGN_MARGIN)
            behind[g] = (behind[g] + sign if sign and sign * behind[g] >= 0 else sign) if resign else 0
            over = _finished(board, len(board.move_stack), max_plies, behind[g])
            if over:
                results[g] = over
                continue
            player = pairings[g][0 if board.turn else 1]
            to_move.setdefault(id(player), []).append(g)
        for games in to_move.values():
            first = boards[games[0]]
            player = pairings[games[0]][0 if first.turn else 1]
            candidates = [candidate_moves(boards[g]) for g in games]
            moves = player.choose([boards[g] for g in games], [rngs[g] for g in games], candidates)
            for g, move, choices in zip(games, moves, candidates):
                if on_move is not None:
                    on_move(g, boards[g], move, player, choices)
                boards[g].push(move)
    return [Game(white.name, black.name, [m.uci() for m in board.move_stack], *results[g])
            for g, ((white, black), board) in enumerate(zip(pairings, boards))]


# ----------------------------------------------------------------------------- what the model sees

def encode_board(board) -> np.ndarray:
    """(64,) piece codes as the side to move sees the board: 0 empty, 1-6 its own pawn..king, 7-12 the
    opponent's; Black's view is mirrored top to bottom, so the mover always plays up the board."""
    codes = np.zeros(64, dtype=np.int64)
    mirror = 0 if board.turn else 56
    for color, offset in ((board.turn, 0), (not board.turn, 6)):
        for piece_type in chess.PIECE_TYPES:
            for square in chess.scan_forward(board.pieces_mask(piece_type, color)):
                codes[square ^ mirror] = piece_type + offset
    return codes


def move_index(board, move) -> int:
    """The move as from * 64 + to, in the mover's view (a promotion is its pawn's from-to pair)."""
    mirror = 0 if board.turn else 56  # `_square_from_side`, written out
    return (move.from_square ^ mirror) * 64 + (move.to_square ^ mirror)


def uci_token(move) -> int:
    """The move as from * 64 + to on the real board: the sequence model's vocabulary (plus a start token)."""
    return move.from_square * 64 + move.to_square


START_TOKEN = 4096


