"""Plans as pictures: one colour per decision, blocks grouped by kind (SA | CA | FFN)."""
from __future__ import annotations

import numpy as np

from ..backbone.blocks import BlockKind
from ..backbone.config import BLOCKS_PER_LAYER
from ..sparsity.plan import Decision

DECISION_COLORS = {  # RGB
    Decision.COMPUTE: (220, 50, 47),
    Decision.REUSE_F: (38, 139, 210),
    Decision.REUSE_T: (133, 153, 0),
    Decision.REUSE_R: (181, 137, 0),
}
GAP_COLOR = (255, 255, 255)
KIND_LABELS = {BlockKind.SELF_ATTENTION: "SA", BlockKind.CROSS_ATTENTION: "CA", BlockKind.FEED_FORWARD: "FFN"}
_PALETTE = np.array([DECISION_COLORS[d] for d in Decision] + [GAP_COLOR], np.uint8)
GAP = len(Decision)  # palette index of the separator column


def grouped_columns(n_blocks: int) -> np.ndarray:
    """Column order: all SA blocks by layer, a gap, all CA blocks, a gap, all FFN blocks (-1 = gap)."""
    columns = []
    for kind in range(BLOCKS_PER_LAYER):
        if kind:
            columns.append(-1)
        columns.extend(range(kind, n_blocks, BLOCKS_PER_LAYER))
    return np.array(columns)


def plan_image(plan: np.ndarray) -> np.ndarray:
    """``plan`` [K, 3L] -> RGB uint8 [K, 3L + 2]: rows are denoising steps, columns blocks by kind."""
    plan = np.asarray(plan)
    columns = grouped_columns(plan.shape[-1])
    codes = np.where(columns >= 0, plan[:, np.maximum(columns, 0)], GAP)
    return _PALETTE[codes]
