"""Gemini as a labeller of the per-file engine's labelling job (label_google_gen_ai_cloud.py).

For every file the adapter uploads the audio itself (``request.path``; the waveform the engine loaded
only proved the file decodes), asks ``generateContent`` for the published prompt with the published
generation config (at most 1024 output tokens, temperature 0, top_p 1, seed 100) and deletes the
upload again, whatever happened. Response cleaning, the output file and ``--resume`` are the
engine's.

Retrying is ours, not the SDK's (its own retry is switched off), so the policy is bounded and
testable: HTTP 408, 429 and 5xx and network failures are retried with capped exponential backoff
and jitter, honouring a wait the server asks for; any other error, or a failure that outlasts the
retries, raises :class:`GeminiStopped` (a :class:`~auditoryhum.labelling.LabellingStopped`), which the
engine turns into one line, keeping every finished row.

The API key is read from the environment, never printed, and scrubbed from every message that
could carry it.
"""

from __future__ import annotations

import importlib
import logging
import mimetypes
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping, Sequence, TypeVar

from .errors import UserError, one_line
from .labelling import LabellingStopped, LabelRequest
from .retry import Failure, GaveUp, RetryPolicy
from .runtime import SEED

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Longest server message shown (after the key is scrubbed from it).
MESSAGE_LIMIT = 200

#: Looked up in this order, as the google-genai SDK itself does.
API_KEY_ENV_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")

#: The Files API lives in v1beta; newer SDKs default to v1, so the version is pinned.
API_VERSION = "v1beta"

#: The published generation config for Gemini (docs/method.md §2).
GENERATION_CONFIG = dict(max_output_tokens=1024, temperature=0.0, top_p=1.0, seed=SEED)

RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))

#: Audio MIME types the Gemini API documents, by file suffix.
AUDIO_MIME_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mp3",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}


class GeminiStopped(LabellingStopped):
    """The run cannot go on: a request failed for good. The message is one line, names the model
    and the file, and never holds the API key."""


def resolve_api_key(cli_key: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``--api_key`` if given (kept for the upstream command lines), else the environment."""
    if cli_key and cli_key.strip():
        return cli_key.strip()
    for name in API_KEY_ENV_VARS:
        if environ.get(name, "").strip():
            return environ[name].strip()
    raise UserError(
        f"no Gemini API key: set {' or '.join(reversed(API_KEY_ENV_VARS))} in the environment "
        "(--api_key also works but leaves the key in your shell history)"
    )


# ----------------------------------------------------------------------------------------------
# which failures are worth another try


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures from whichever HTTP library the SDK runs on (httpx or its fork httpx2)."""
    classes: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        classes += [module.TimeoutException, module.NetworkError, module.RemoteProtocolError]
    return tuple(classes)


TRANSPORT_ERRORS = _transport_errors()


def classify_failure(err: BaseException, scrub: Callable[[str], str] = str) -> Failure | None:
    """A :class:`~auditoryhum.retry.Failure` for API and network errors; None for anything else
    (a bug: re-raise). ``scrub`` removes secrets from the server's text *before* it is cut to one
    line, so no part of a secret can survive the cut."""
    from google.genai import errors as genai_errors

    if isinstance(err, genai_errors.APIError):
        status = f" {err.status}" if err.status else ""
        message = scrub(str(err.message or ""))
        detail = f" ({one_line(message, limit=MESSAGE_LIMIT)})" if message and message != err.status else ""
        return Failure(f"HTTP {err.code}{status}{detail}", err.code in RETRYABLE_STATUS, err.code, _wait_hint(err))
    if isinstance(err, TRANSPORT_ERRORS):
        text = scrub(str(err))
        return Failure(f"{type(err).__name__}: {one_line(text, limit=MESSAGE_LIMIT) if text.strip() else 'no detail'}",
                       True)
    return None


def _wait_hint(err) -> float | None:
    """Seconds the server asked for: a ``Retry-After`` header, or google.rpc.RetryInfo's
    ``retryDelay`` (``"12s"``) in the error details, as Gemini sends with quota errors."""
    headers = getattr(err.response, "headers", None) or {}
    hints = [headers.get("retry-after")]
    error = err.details.get("error") if isinstance(err.details, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    if isinstance(details, list):
        hints += [detail.get("retryDelay") for detail in details if isinstance(detail, dict)]
    for hint in hints:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s?", str(hint or "").strip())
        if match:
            return float(match.group(1))
    return None


def call_with_retries(policy: RetryPolicy, action: Callable[[], T], what: str, scrub: Callable[[str], str] = str) -> T:
    """``action()`` under ``policy``; a request that fails for good stops the labelling with one line
    saying what failed, how often, and what to check."""
    try:
        return policy.call(action, what, lambda err: classify_failure(err, scrub))
    except GaveUp as gave_up:
        failure = gave_up.failure
        if not failure.retryable:
            raise GeminiStopped(f"{what} failed with {failure.text}; not retried{_advice(failure.status)}") from None
        raise GeminiStopped(f"{what} failed {gave_up.attempts} times, last with {failure.text}; giving up "
                            "(see --max_retries)") from None


def _advice(status: int | None) -> str:
    if status in (401, 403):
        return f" - check the API key in {' / '.join(reversed(API_KEY_ENV_VARS))}"
    if status == 404:
        return " - check --genai_id"
    return ""


# ----------------------------------------------------------------------------------------------
# the labeller


def make_client(api_key: str, base_url: str | None = None, timeout_seconds: float = 300.0):
    """A google-genai client for the Gemini Developer API with the SDK's own retries off."""
    from google import genai
    from google.genai import types

    options = types.HttpOptions(
        api_version=API_VERSION,
        timeout=int(timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    if base_url:
        options.base_url = base_url
    return genai.Client(api_key=api_key, vertexai=False, http_options=options)


def audio_mime_type(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    mime = AUDIO_MIME_TYPES.get(suffix) or mimetypes.guess_type(path)[0]
    if not mime or not mime.startswith("audio/"):
        raise GeminiStopped(f"{path}: cannot tell its audio type from the name; Gemini takes {', '.join(AUDIO_MIME_TYPES)}")
    return mime


class GeminiLabeller:
    """The :class:`~auditoryhum.labelling.Labeller` for Gemini; a batch runs its files concurrently."""

    #: Gemini takes the file as it is: no resampling, no window to cut to.
    sampling_rate = None
    max_audio_seconds = None
    min_audio_seconds = None

    def __init__(self, model_id: str, client, api_key: str, retry: RetryPolicy | None = None):
        self.name = model_id
        self.client = client
        self.retry = retry or RetryPolicy()
        self._api_key = api_key

    def label_batch(self, requests: Sequence[LabelRequest]) -> list[str]:
        if len(requests) == 1:
            return [self.label_one(requests[0])]
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            return list(pool.map(self.label_one, requests))

    def label_one(self, request: LabelRequest) -> str:
        from google.genai import types

        upload_config = types.UploadFileConfig(
            mime_type=audio_mime_type(request.path), display_name=os.path.basename(request.path)
        )
        uploaded = call_with_retries(
            self.retry,
            lambda: self.client.files.upload(file=request.path, config=upload_config),
            f"{self.name}: uploading {request.path}",
            self.scrub,
        )
        try:
            response = call_with_retries(
                self.retry,
                lambda: self.client.models.generate_content(
                    model=self.name,
                    # The published order: the prompt text first, then the audio file.
                    contents=[request.prompt, uploaded],
                    # No tools are offered; switching automatic function calling off also stops
                    # the SDK logging about it on every call.
                    config=types.GenerateContentConfig(
                        **GENERATION_CONFIG,
                        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
                    ),
                ),
                f"{self.name}: labelling {request.path}",
                self.scrub,
            )
        finally:
            self._delete(uploaded, request.path)
        if not response.text:
            log.warning("%s: no text in the answer for %s (%s)", self.name, request.path, _why_empty(response))
        return response.text or ""

    def scrub(self, text: str) -> str:
        """``text`` with the API key blotted out (a proxy may echo it back in an error)."""
        return text.replace(self._api_key, "[API key]") if self._api_key else text

    def _delete(self, uploaded, path: str) -> None:
        # Uploads expire after 48 h anyway, so a failed delete must not stop the run.
        try:
            self.client.files.delete(name=uploaded.name)
        except Exception as err:
            failure = classify_failure(err, self.scrub)
            if failure is None:
                raise
            log.warning("%s: could not delete the upload of %s (%s): %s", self.name, path, uploaded.name,
                        failure.text)


def _why_empty(response) -> str:
    if response.prompt_feedback and response.prompt_feedback.block_reason:
        return f"prompt blocked: {response.prompt_feedback.block_reason}"
    if response.candidates and response.candidates[0].finish_reason:
        return f"finish reason {response.candidates[0].finish_reason}"
    return "empty answer"
