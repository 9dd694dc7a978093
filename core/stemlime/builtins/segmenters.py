"""Built-in segmenter ``whole``: the excerpt is one segment."""

from __future__ import annotations

import numpy as np

from ..components import Segment


class WholeSegmenter:
    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        duration = len(mix) / sample_rate
        return [Segment(0.0, duration, np.ones(len(mix), np.float32), f"0.00-{duration:.2f}s")]
