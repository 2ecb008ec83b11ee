"""label_google_gen_ai_cloud.py: label every audio file with Gemini through the google-genai SDK."""

from __future__ import annotations

import logging

from .. import cli
from ..errors import UserError
from ..gemini import API_KEY_ENV_VARS, GENERATION_CONFIG, GeminiLabeller, RetryPolicy, make_client, resolve_api_key
from ..prompting import PROMPT_TEXT
from .per_file import add_labelling_arguments, label

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        "label_google_gen_ai_cloud.py",
        "Describe each audio file's scene in word pairs with Gemini (the file is uploaded; at most "
        "1024 output tokens, temperature 0, top_p 1, seed 100) and write one cleaned response per "
        f"file to a labels CSV. The API key is read from {' or '.join(reversed(API_KEY_ENV_VARS))}.",
        'python3 label_google_gen_ai_cloud.py --filedir="*.wav" --genai_id="gemini-2.5-flash" '
        "--text_label_csv=gemini_text_labels.csv",
    )
    parser.add_argument("--genai_id", default="gemini-2.5-flash", help="Gemini model id")
    parser.add_argument(
        "--api_key",
        default=None,
        help="Gemini API key; prefer the GEMINI_API_KEY environment variable, since a key on the "
        "command line ends up in shell history and process lists",
    )
    # where the requests go, not which model answers them (--genai_id): a resumed run may use another
    cli.add_procedural(parser, "--base_url", default=None, help="API endpoint to use instead of Google's, e.g. a proxy")
    add_labelling_arguments(parser, batch_help="files labelled concurrently (one request each)")
    group = parser.add_argument_group("retries")
    cli.add_procedural(
        group, "--max_retries",
        type=int,
        default=5,
        help="retries of a request that failed with HTTP 408, 429, 5xx or a network error; after "
        "that the run stops, keeping every finished label for --resume",
    )
    cli.add_procedural(group, "--retry_base_seconds", type=float, default=2.0,
                       help="wait before the first retry; doubles on every retry")
    cli.add_procedural(group, "--retry_max_seconds", type=float, default=60.0, help="longest wait between two tries")
    cli.add_procedural(
        group, "--timeout_seconds",
        type=float,
        default=300.0,
        help="an HTTP request with no answer after this long counts as failed (and is retried)",
    )
    return parser


def check_arguments(args) -> None:
    if args.max_retries < 0:
        raise UserError(f"--max_retries={args.max_retries}: must be 0 or more")
    if not args.retry_base_seconds > 0:
        raise UserError(f"--retry_base_seconds={args.retry_base_seconds}: must be more than 0")
    if not args.retry_max_seconds >= args.retry_base_seconds:
        raise UserError(f"--retry_max_seconds={args.retry_max_seconds}: must be at least --retry_base_seconds")
    if not args.timeout_seconds > 0:
        raise UserError(f"--timeout_seconds={args.timeout_seconds}: must be more than 0")
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise UserError(f"--base_url={args.base_url}: must start with http:// or https://")


@cli.script(get_parser)
def main(args, run):
    check_arguments(args)
    api_key = resolve_api_key(args.api_key)
    if args.api_key:
        log.warning("--api_key puts the key in shell history and process lists; prefer GEMINI_API_KEY")
    # The HTTP layer logs every request at INFO; the progress bar and retry warnings say enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    retry = RetryPolicy(args.max_retries, args.retry_base_seconds, args.retry_max_seconds)

    def make_labeller():
        client = make_client(api_key, args.base_url, args.timeout_seconds)
        return GeminiLabeller(args.genai_id, client, api_key, retry)

    run.parameters.update(prompt=PROMPT_TEXT, **GENERATION_CONFIG)
    return label(args, run, make_labeller)
