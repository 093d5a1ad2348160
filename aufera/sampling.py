"""Multi-label batch sampling: random, multi-label stratification and MOMU.

A sampler is a pure function of the (N, 10) label matrix (aufera encoding:
+1 present, -1 absent, 0 unknown; see `aufera.au`) that returns a *batch
plan*: a list of int64 arrays of row indices, one array per batch. The plan
says which training frames go into which mini-batch and in what order;
`aufera.data.pipeline.dataset_from_arrays(..., batch_plan=plan)` turns a plan
into a `tf.data.Dataset` that gathers each batch's frames from the split held
in memory. This module does not import TensorFlow.

Three samplers:

    random_batches      a random permutation cut into batches (baseline).
    stratified_batches  Chu et al. 2019, Alg. 1: every frame once per epoch,
                        the positives of each AU spread evenly over batches.
    momu_batches        Chu et al. 2019, Alg. 2: minority oversampling,
                        majority undersampling; balances the AUs within each
                        batch, reusing rare-AU frames.

Only a present label (+1) counts as an active AU; absent (-1) and unknown (0)
are both "not active" for the samplers.

Examples:

    >>> import numpy as np
    >>> from aufera.sampling import stratified_batches, batch_au_counts
    >>> labels = np.where(np.random.default_rng(0).random((1000, 10)) < 0.3, 1, -1).astype(np.int8)
    >>> plan = stratified_batches(labels, batch_size=64, seed=0)
    >>> len(plan), batch_au_counts(labels, plan).shape
    (16, (16, 10))

References:
    Chu, De la Torre, Cohn 2019, "Learning facial action units with
    spatiotemporal cues and multi-label sampling", Image and Vision Computing
    81, Sec. 5.1 (Alg. 1, multi-label stratification), Sec. 5.2 (Alg. 2,
    MOMU), Fig. 6 (AU counts per batch for the three samplers).
"""

from __future__ import annotations

import math

import numpy as np

from aufera.au import ABSENT, NUM_AUS, PRESENT, UNKNOWN

# === Validation ===


def _check_labels(labels) -> np.ndarray:
    """Returns the labels as an int8 (N, NUM_AUS) array, or raises ValueError."""
    array = np.asarray(labels)
    if array.ndim != 2 or array.shape[1] != NUM_AUS:
        raise ValueError(
            f"labels must be a 2-D array with {NUM_AUS} columns (one per AU). Received: shape={array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"labels must have at least one row. Received: shape={array.shape}")
    bad = ~np.isin(array, (PRESENT, ABSENT, UNKNOWN))
    if bad.any():
        raise ValueError(f"labels must be +1, -1 or 0. Received: {np.unique(array[bad]).tolist()}")
    return array.astype(np.int8, copy=False)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
    return int(value)


def _check_plan(plan, num_rows: int) -> list[np.ndarray]:
    if len(plan) == 0:
        raise ValueError(f"plan must hold at least one batch. Received: plan={plan!r}")
    batches = []
    for number, batch in enumerate(plan):
        batch = np.asarray(batch)
        if batch.ndim != 1 or batch.size == 0 or not np.issubdtype(batch.dtype, np.integer):
            raise ValueError(
                f"Every batch of a plan must be a non-empty 1-D integer array. "
                f"Received: batch {number} with shape={batch.shape}, dtype={batch.dtype}"
            )
        if batch.min() < 0 or batch.max() >= num_rows:
            raise ValueError(
                f"Batch {number} of the plan indexes outside the {num_rows} rows. "
                f"Received: min={batch.min()}, max={batch.max()}"
            )
        batches.append(batch.astype(np.int64, copy=False))
    return batches


# === Helpers ===


def batch_au_counts(labels, plan) -> np.ndarray:
    """Counts the positives of every AU in every batch of a plan.

    Args:
        labels: array-like (N, 10) of +1 / -1 / 0.
        plan: list of 1-D integer arrays of row indices (a batch plan).

    Returns:
        An int64 array (B, 10): entry (b, j) is the number of frames of batch
        b where AU j is present (+1).
    """
    labels = _check_labels(labels)
    batches = _check_plan(plan, labels.shape[0])
    positive = (labels == PRESENT).astype(np.int64)
    sizes = np.array([batch.size for batch in batches])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.add.reduceat(positive[np.concatenate(batches)], starts, axis=0)


def _split(order: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    return [part.astype(np.int64, copy=False) for part in np.split(order, np.cumsum(sizes)[:-1])]


# === Random sampling ===


def random_batches(labels, batch_size: int, seed: int = 0, drop_remainder: bool = False) -> list[np.ndarray]:
    """A random permutation of the frames cut into consecutive batches.

    This is the baseline ("random sampling", RS) of Chu et al. 2019. Every
    frame is used exactly once per epoch.

    Args:
        labels: array-like (N, 10) of +1 / -1 / 0. Only its shape matters
            here; it is validated like for the other samplers.
        batch_size: int. Frames per batch.
        seed: int. Seed of the permutation. Defaults to 0.
        drop_remainder: bool. When False (the default) the last batch holds
            the N % batch_size leftover frames and may be smaller; when True
            those frames are dropped (and an empty plan returned if N <
            batch_size).

    Returns:
        A list of ceil(N / batch_size) (or floor, with drop_remainder) int64
        index arrays.

    References:
        Chu, De la Torre, Cohn 2019, Sec. 5.3 (RS in Tables 3-4, Fig. 6 top).
    """
    labels = _check_labels(labels)
    batch_size = _check_positive_int(batch_size, "batch_size")
    order = np.random.default_rng(seed).permutation(labels.shape[0])
    batches = [order[start : start + batch_size] for start in range(0, order.size, batch_size)]
    if drop_remainder and batches and batches[-1].size < batch_size:
        batches.pop()
    return [batch.astype(np.int64) for batch in batches]


# === Multi-label stratification (Alg. 1) ===


STRATIFIED_ORDERS = ("balanced", "shuffled", "index")


def _gray_rank(bits: np.ndarray) -> np.ndarray:
    """Position of each row's bit pattern in the reflected Gray code sequence.

    Sorting by this rank puts patterns that differ in one bit next to each
    other, so every AU's frames form few contiguous runs.
    """
    code = np.zeros(bits.shape[0], dtype=np.int64)
    for column in range(bits.shape[1]):
        code = (code << 1) | bits[:, column]
    rank = code.copy()
    shift = code >> 1
    while shift.any():
        rank ^= shift
        shift >>= 1
    return rank


def stratified_batches(labels, batch_size: int, seed: int = 0, order: str = "balanced") -> list[np.ndarray]:
    """Multi-label stratification: each AU's positives spread evenly over batches.

    Implements Alg. 1 of Chu et al. 2019. With B = ceil(N / batch_size)
    batches:

    1. Among the frames not yet placed, count the positives of every AU.
    2. Take the AU with the fewest positives (ties: the lower AU index; AUs
       with no positive left are skipped). Deal all remaining frames where it
       is present over the B batches round-robin; each round starts at the
       batch after the one where the previous round stopped. Remove those
       frames.
    3. Repeat 1-2 until no remaining frame has an active AU (at most 10
       rounds), then deal the frames with no active AU (all -1 / 0) the same
       way.

    Because all rounds form one continuous round-robin, every frame is used
    exactly once, batch sizes differ by at most one (the first N % B batches
    hold one frame more; every batch holds at most batch_size frames), and the
    rarest AU has floor or ceil of (its positives / B) in every batch. The
    order inside each batch is shuffled at the end (except with
    order="index").

    The paper leaves open the order in which a round's frames are dealt
    (`order`). Frames of an early round also carry the later, more common
    AUs; dealt in random order, those AUs land in the batches at random and
    the later AUs are only partly stratified. The default "balanced" order
    sorts the round's frames by the pattern of their other present AUs
    (rarest AU among the remaining frames first, patterns in Gray code order,
    ties in random order), so dealing them round-robin also spreads every
    other AU of the round evenly: a recursive stratification.

    Args:
        labels: array-like (N, 10) of +1 / -1 / 0.
        batch_size: int. The largest batch size; fixes B = ceil(N / batch_size).
        seed: int. Seed of the shuffles. Defaults to 0.
        order: str. How each round's frames are ordered before dealing:
            "balanced" (see above), "shuffled" (random order; the literal
            reading of Alg. 1) or "index" (ascending row index, and batches
            returned in ascending index order: the deterministic skeleton of
            the algorithm, for tests and inspection). Defaults to "balanced".

    Returns:
        A list of B int64 index arrays that together hold every row once.

    References:
        Chu, De la Torre, Cohn 2019, Sec. 5.1 and Alg. 1; Fig. 6 middle.
    """
    labels = _check_labels(labels)
    batch_size = _check_positive_int(batch_size, "batch_size")
    if order not in STRATIFIED_ORDERS:
        raise ValueError(f"order must be one of {STRATIFIED_ORDERS}. Received: order={order!r}")
    rng = np.random.default_rng(seed)
    num_rows = labels.shape[0]
    num_batches = math.ceil(num_rows / batch_size)
    never = np.iinfo(np.int64).max

    positive = labels == PRESENT
    remaining = np.ones(num_rows, dtype=bool)
    rounds = []
    while True:
        counts = positive[remaining].sum(axis=0)
        if not counts.any():
            break
        rarest = int(np.argmin(np.where(counts > 0, counts, never)))
        members = np.flatnonzero(remaining & positive[:, rarest])
        remaining[members] = False
        if order == "balanced":
            left = positive[remaining].sum(axis=0)
            significance = np.argsort(np.where(left > 0, left, never), kind="stable")
            rank = _gray_rank(positive[members][:, significance].astype(np.int64))
            members = members[np.lexsort((rng.random(members.size), rank))]
        elif order == "shuffled":
            members = rng.permutation(members)
        rounds.append(members)
    # Frames with no active AU (absent or unknown everywhere) close the deal.
    rest = np.flatnonzero(remaining)
    rounds.append(rest if order == "index" else rng.permutation(rest))

    # One continuous round-robin: the j-th frame dealt goes to batch j % B.
    dealt = np.concatenate(rounds)
    batch_of = np.arange(num_rows) % num_batches
    within = dealt if order == "index" else rng.random(num_rows)
    ordered = dealt[np.lexsort((within, batch_of))]
    sizes = np.bincount(batch_of, minlength=num_batches)
    return _split(ordered, sizes)


# === MOMU (Alg. 2) ===


class _Deck:
    """The pool of one AU as a shuffled deck read with a cursor.

    A frame is drawn from the deck when it is still in the global pool and not
    yet in the current batch. Reaching the end of the deck means the pool has
    no frame of this AU left: all frames of the AU are restored to the pool
    and the deck is reshuffled.
    """

    def __init__(self, members: np.ndarray, rng: np.random.Generator):
        self.members = members
        self.rng = rng
        self.cards = rng.permutation(members)
        self.cursor = 0

    def restore(self, in_pool: np.ndarray) -> None:
        in_pool[self.members] = True
        self.cards = self.rng.permutation(self.members)
        self.cursor = 0

    def draw(self, need: int, in_pool: np.ndarray, in_batch: np.ndarray) -> np.ndarray:
        taken = []
        found = 0
        restored = False
        window = max(4 * need, 64)
        while found < need:
            if self.cursor >= self.cards.size:
                if restored:
                    break  # Even a full deck cannot supply more distinct frames.
                self.restore(in_pool)
                restored = True
            cards = self.cards[self.cursor : self.cursor + window]
            hits = np.flatnonzero(in_pool[cards] & ~in_batch[cards])[: need - found]
            if hits.size == need - found:
                self.cursor += int(hits[-1]) + 1
            else:
                self.cursor += cards.size
            chosen = cards[hits]
            in_batch[chosen] = True
            in_pool[chosen] = False
            taken.append(chosen)
            found += chosen.size
            window *= 2
        return np.concatenate(taken) if taken else np.empty(0, dtype=np.int64)


def momu_batches(
    labels, batch_size: int, num_batches: int, seed: int = 0, chunk: int | None = None
) -> list[np.ndarray]:
    """Multi-label minority oversampling, majority undersampling (MOMU).

    Implements Alg. 2 of Chu et al. 2019. Each batch is filled greedily in
    chunks of S frames:

    1. Start the batch with S frames where the AU with the fewest positives in
       the whole dataset is present; they leave the pool.
    2. Find the AU with the fewest positives in the batch so far (ties: the
       AU rarer in the dataset) and add S more frames where it is present,
       drawn without replacement from the pool and distinct from the frames
       already in the batch. The last chunk is truncated so the batch holds
       exactly batch_size frames.
    3. When the pool has no frame of that AU left, restore all frames of the
       AU to the pool and continue drawing (the frames still in the pool are
       taken first, the rest after the restore).

    Choices where the paper is open:

    - The pool of each AU is read as a shuffled deck with a cursor: frames
      drawn through another AU are skipped, and "no frame left" means the end
      of the deck. Frames restored by another AU's restore are seen by this
      AU's deck at its next pass.
    - AUs with no positive frame in the dataset are skipped (they cannot be
      balanced). If every AU in the ranking cannot add a distinct frame to
      the batch (tiny datasets), the batch is completed with random distinct
      frames of the whole dataset.
    - S defaults to max(1, batch_size // 8).

    MOMU plans do not cover the dataset once per epoch: rare-AU frames repeat
    across batches and common-AU-only frames may never be drawn.

    Args:
        labels: array-like (N, 10) of +1 / -1 / 0, with at least one +1 and
            N >= batch_size.
        batch_size: int. Frames per batch (every batch has exactly this many).
        num_batches: int. Number of batches B to plan.
        seed: int. Seed of the random draws. Defaults to 0.
        chunk: int or None. Chunk size S. Defaults to max(1, batch_size // 8).

    Returns:
        A list of num_batches int64 index arrays of batch_size distinct rows.

    References:
        Chu, De la Torre, Cohn 2019, Sec. 5.2 and Alg. 2; Fig. 6 bottom.
    """
    labels = _check_labels(labels)
    batch_size = _check_positive_int(batch_size, "batch_size")
    num_batches = _check_positive_int(num_batches, "num_batches")
    chunk = max(1, batch_size // 8) if chunk is None else _check_positive_int(chunk, "chunk")
    num_rows = labels.shape[0]
    if num_rows < batch_size:
        raise ValueError(
            f"MOMU needs at least batch_size rows to fill a batch with distinct frames. "
            f"Received: {num_rows} rows, batch_size={batch_size}"
        )
    positive = labels == PRESENT
    totals = positive.sum(axis=0)
    active = np.flatnonzero(totals > 0)
    if active.size == 0:
        raise ValueError("MOMU needs at least one present (+1) label. Received: labels with no +1")
    # AUs in dataset order of rarity; the rank breaks ties in step 2.
    by_rarity = active[np.argsort(totals[active], kind="stable")]
    rank = np.empty(NUM_AUS, dtype=np.int64)
    rank[by_rarity] = np.arange(by_rarity.size)

    rng = np.random.default_rng(seed)
    decks = {int(au): _Deck(np.flatnonzero(positive[:, au]), rng) for au in by_rarity}
    in_pool = np.ones(num_rows, dtype=bool)
    in_batch = np.zeros(num_rows, dtype=bool)
    positive64 = positive[:, active].astype(np.int64)

    plan = []
    for _ in range(num_batches):
        parts = []
        filled = 0
        counts = np.zeros(active.size, dtype=np.int64)
        saturated = np.zeros(active.size, dtype=bool)
        target = int(by_rarity[0])
        while filled < batch_size:
            need = min(chunk, batch_size - filled)
            drawn = decks[target].draw(need, in_pool, in_batch)
            if drawn.size:
                parts.append(drawn)
                filled += drawn.size
                counts += positive64[drawn].sum(axis=0)
            if drawn.size < need:
                # Even after a restore this AU has no distinct frame left for this batch.
                saturated[np.searchsorted(active, target)] = True
            if filled >= batch_size:
                break
            open_aus = np.flatnonzero(~saturated)
            if open_aus.size == 0:
                # No AU can add a distinct frame: complete with random frames.
                spare = rng.permutation(np.flatnonzero(~in_batch))[: batch_size - filled]
                in_batch[spare] = True
                in_pool[spare] = False
                parts.append(spare)
                filled += spare.size
                break
            candidates = active[open_aus]
            keys = np.lexsort((rank[candidates], counts[open_aus]))
            target = int(candidates[keys[0]])
        batch = np.concatenate(parts).astype(np.int64)
        in_batch[batch] = False
        plan.append(batch)
    return plan
