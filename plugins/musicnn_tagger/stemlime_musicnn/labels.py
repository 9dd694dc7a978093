"""Output labels of the musicnn taggers, in output (logit) order.

Both label sets have 50 tags. The order is the order of the models' output units and was
checked against the ``tags`` arrays the original TensorFlow models return
(tests/data/musicnn/*.npz). Spelling and capitalisation are the datasets' own
("Mellow", "Hip-Hop", "House", ...).
"""

from __future__ import annotations

MSD_LABELS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic",
    "female vocalists", "dance", "00s", "alternative rock", "jazz",
    "beautiful", "metal", "chillout", "male vocalists", "classic rock",
    "soul", "indie rock", "Mellow", "electronica", "80s",
    "folk", "90s", "chill", "instrumental", "punk",
    "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s",
    "party", "country", "easy listening", "sexy", "catchy",
    "funk", "electro", "heavy metal", "Progressive rock", "60s",
    "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
"""Million Song Dataset (last.fm) top-50 tags: labels of MSD_musicnn and MSD_vgg."""

MTT_LABELS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings",
    "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth",
    "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic",
    "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
"""MagnaTagATune top-50 tags: labels of MTT_musicnn and MTT_vgg."""

assert len(MSD_LABELS) == 50 and len(set(MSD_LABELS)) == 50
assert len(MTT_LABELS) == 50 and len(set(MTT_LABELS)) == 50
