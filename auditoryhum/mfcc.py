"""Mean MFCC vector per audio file (docs/method.md §5): the model-free baseline embedding.

16 kHz mono, ``n_fft`` 2048, hop 512, window 2048, 20 coefficients, averaged over time. The rest
is librosa's defaults (Hann window, centred frames with zero padding, 128 Slaney mel bands, power
in dB re 1 with an 80 dB floor, orthonormal DCT-II, no liftering), as the published script left them.
"""

from __future__ import annotations


import numpy as np


SAMPLING_RATE = 16000
N_FFT = 2048
HOP_LENGTH = 512
WIN_LENGTH = 2048
N_MFCC = 20


def mean_mfcc(waveform: np.ndarray) -> np.ndarray:
    """``(N_MFCC,)`` float32: the MFCCs of one 16 kHz mono waveform, averaged over frames."""
    import librosa

    coefficients = librosa.feature.mfcc(
        y=waveform,
        sr=SAMPLING_RATE,
        n_mfcc=N_MFCC,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=WIN_LENGTH,
    )
    return coefficients.mean(axis=1).astype(np.float32)


class MFCCEmbedder:
    """The :class:`~auditoryhum.features.AudioEmbedder` for the mean MFCC (any clip length works:
    librosa pads the frames of a clip shorter than one window)."""

    name = "MFCC"
    sampling_rate = SAMPLING_RATE
    min_audio_seconds = None

    def __call__(self, waveforms: list[np.ndarray]) -> np.ndarray:
        return np.stack([mean_mfcc(waveform) for waveform in waveforms])

