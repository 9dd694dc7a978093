"""Many tracks: ``explain_dataset`` over a dataset folder, locally or on Ray, and global explanations.

    pipeline = stemlime.Pipeline(tagger="musicnn", separator="oracle")
    result = stemlime.explain_dataset(pipeline, "musdb18/test/", "musdb-explained/", top_labels=3, engine="ray")
    result.global_explanation.labels["rock"].components["drums"].importance

The core imports nothing heavy here: Ray is imported only for ``engine="ray"``.
"""

from .aggregate import aggregate, stem_weights
from .metadata import read_metadata
from .run import DatasetResult, explain_dataset, settings_hash
from .tracks import Track, find_tracks
from .worker import TrackJob, TrackOutcome, explain_track

__all__ = [
    "DatasetResult",
    "Track",
    "TrackJob",
    "TrackOutcome",
    "aggregate",
    "explain_dataset",
    "explain_track",
    "find_tracks",
    "read_metadata",
    "settings_hash",
    "stem_weights",
]
