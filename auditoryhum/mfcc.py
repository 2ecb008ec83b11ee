"""Mean MFCC vector per audio file (docs/method.md §5): the model-free baseline embedding.

16 kHz mono, ``n_fft`` 2048, hop 512, window 2048, 20 coefficients, averaged over time. The rest
is librosa's defaults (Hann window, centred frames with zero padding, 128 Slaney mel bands, power
in dB re 1 with an 80 dB floor, orthonormal DCT-II, no liftering), as the published script left them.
"""

from __future__ import annotations

import numpy as np

from .audio import ZEROS, LongAudio, frame_stretches

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


#: clips longer than this are read and analysed a stretch of frames at a time (:func:`streamed_mean_mfcc`)
STREAM_ABOVE_SECONDS = 300.0
#: frames analysed at once in a streamed clip (about 131 s of audio, 33 MB of spectrum)
FRAMES_PER_STRETCH = 4096
#: power_to_db's defaults, which the published script kept: floor of the power, range below the peak
AMIN, TOP_DB = 1e-10, 80.0


def streamed_mean_mfcc(long: LongAudio) -> np.ndarray:
    """:func:`mean_mfcc` of a clip read a stretch at a time, in two passes (the dB floor is set by
    the loudest frame of the whole clip): the same frames, summed in float64 - equal to the
    whole-clip result to float32 rounding."""
    import librosa
    import scipy.fft

    def mel_power(stretch: np.ndarray) -> np.ndarray:
        return librosa.feature.melspectrogram(y=stretch, sr=SAMPLING_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH,
                                              win_length=WIN_LENGTH, center=False)

    def stretches():  # librosa's centred frames, zero-padded
        for _, stretch in frame_stretches(long, N_FFT, HOP_LENGTH, FRAMES_PER_STRETCH, ZEROS):
            yield stretch

    peak = max(float(mel_power(stretch).max()) for stretch in stretches())
    floor = 10.0 * np.log10(max(AMIN, peak)) - TOP_DB
    total, frames = np.zeros(N_MFCC), 0
    for stretch in stretches():
        db = np.maximum(10.0 * np.log10(np.maximum(AMIN, mel_power(stretch))), floor)
        coefficients = scipy.fft.dct(db, axis=-2, type=2, norm="ortho")[:N_MFCC]
        total += coefficients.sum(axis=1, dtype=np.float64)
        frames += coefficients.shape[1]
    return (total / frames).astype(np.float32)


class MFCCEmbedder:
    """The :class:`~auditoryhum.features.AudioEmbedder` for the mean MFCC (any clip length works:
    librosa pads the frames of a clip shorter than one window; one longer than
    :data:`STREAM_ABOVE_SECONDS` is read a stretch at a time, so memory does not grow with it)."""

    name = "MFCC"
    sampling_rate = SAMPLING_RATE
    min_audio_seconds = None
    stream_above_seconds = STREAM_ABOVE_SECONDS

    def __call__(self, waveforms: list[np.ndarray | LongAudio]) -> np.ndarray:
        return np.stack([streamed_mean_mfcc(waveform) if isinstance(waveform, LongAudio) else mean_mfcc(waveform)
                         for waveform in waveforms])

