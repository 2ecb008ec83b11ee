"""util_review_app.py - the review screen for the sheet of util_review_sheet.py (see auditoryhum.review_app)."""

from __future__ import annotations

import re
import socket

from .. import cli, formats, records, review, runtime
from ..errors import UserError
from ..filelist import list_audio_files
from ..review_app import LiveScorer, create_app, is_loopback, load_session

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def get_parser():
    parser = cli.make_parser(
        "util_review_app.py",
        "Review the files of a review sheet (util_review_sheet.py) in the browser, one clip at a time:\n"
        "listen, read the model's whole answer, the label CLAP chose and its score, and type a better\n"
        "label. Keys: Enter saves and goes to the next clip, Ctrl+Space plays/pauses, PageUp goes back,\n"
        "PageDown skips. Every save is written to the sheet's annotation column at once, so the server\n"
        "can be stopped at any time; started again it continues at the first clip not yet reviewed.\n"
        "With --clap_model and --clap_npy the label being typed is scored live against the clip's\n"
        "audio, the way features_clap_text.py scores a labels-CSV line (split on commas, best part kept).\n"
        "--spectrogram shows each clip's spectrogram beside the player; --multi_label_csv shows the two\n"
        "labels CLAP hesitated between (the sheet's --order margin), with their scores.\n"
        "Afterwards util_review_sheet.py turns the sheet into the annotations CSV (or pass\n"
        "--annotations_csv and the app keeps it up to date after every save).\n"
        "The server binds 127.0.0.1 and serves only the audio files on the sheet; another address\n"
        "needs --token, which every request must then carry (the printed URL holds it).",
        'python3 util_review_app.py --review_csv=review_sheet.csv --filedir="*.wav" '
        "--top_label_scores_csv=top_label_scores.csv --text_label_csv=qwen2a_text_labels.csv "
        '--clap_model="human-clap-wsce-mse-mae" --clap_npy=clap.npy --spectrogram',
    )
    cli.add_output(parser, "--review_csv", required=True, extra=True,
                   help="the review sheet written by util_review_sheet.py; its annotation column is saved to")
    cli.add_filedir_argument(parser)
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="top-label scores CSV the sheet was made from (features_clap_text.py)")
    cli.add_input(parser, "--text_label_csv", required=True,
                  help="labels CSV of the MLLM (label_*.py), one answer line per audio file")
    cli.add_model(parser, "--clap_model", default=None,
                  help="CLAP model folder for live scoring of the typed label (with --clap_npy); "
                  "the model that scored the sheet")
    cli.add_input(parser, "--clap_npy", default=None,
                  help="CLAP audio embeddings from features_clap.py (with --clap_model)")
    cli.add_input(parser, "--multi_label_csv", default=None,
                  help="the multi-label scores CSV written with the scores (features_clap_text.py --multi_label "
                  "--label_top 2): each clip shows its best label and the runner-up it competed with, with their "
                  "scores - what the review sheet's --order margin is about")
    parser.add_argument("--spectrogram", action="store_true",
                        help="show each clip's spectrogram beside the player (0-8 kHz, made by the server for the "
                        "clips on the sheet only; click it to play from there)")
    cli.add_output(parser, "--annotations_csv", default=None,
                   help="output (optional): annotations CSV rewritten after every save, the same file "
                   "util_review_sheet.py would write from the sheet")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on; anything but a loopback address needs --token")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one")
    parser.add_argument("--token", default=None,
                        help="secret every request must carry (required off loopback); the printed URL holds it")
    cli.add_runtime_arguments(parser, runtime.CUDA_FLOAT32)  # as features_clap_text.py, so scores match
    return parser


def _live_scorer(args, run, files_name: str) -> LiveScorer | None:
    if (args.clap_model is None) != (args.clap_npy is None):
        raise UserError("live scoring needs both --clap_model and --clap_npy (or neither)")
    if args.clap_model is None:
        return None
    from .. import clap

    audio_embeddings = formats.load_npy(args.clap_npy, "CLAP audio embeddings")
    records.check_rows_belong(args.clap_npy, audio_embeddings.shape[0], files_name, run.files)
    clap_model = clap.load_clap(args.clap_model, cli.runtime_from_args(args, run))
    if clap_model.embedding_dim != audio_embeddings.shape[1]:
        raise UserError(f"{args.clap_npy}: audio embeddings have {audio_embeddings.shape[1]} dimensions but "
                        f"--clap_model gives {clap_model.embedding_dim}; was it written with another CLAP model?")
    return LiveScorer(clap_model, audio_embeddings)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as err:
        raise UserError(f"--host={host} --port={port}: cannot listen there ({err.strerror or err})") from None
    sock.listen(64)
    return sock


@cli.script(get_parser)
def main(args, run) -> int:
    loopback = is_loopback(args.host)
    if not loopback and not args.token:
        raise UserError(f"--host={args.host} is reachable from other machines: pass --token=SECRET as well")
    if args.token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{8,}", args.token):
        raise UserError("--token: use at least 8 characters from letters, digits and . _ ~ - "
                        "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port={args.port}: must be 0..65535")

    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    files_name = f'--filedir="{args.filedir}"'
    scorer = _live_scorer(args, run, files_name)
    session = load_session(args.review_csv, files, args.filedir, args.top_label_scores_csv, args.text_label_csv,
                           scorer, args.annotations_csv, args.multi_label_csv, args.spectrogram)
    app = create_app(session, args.token, loopback_only=loopback)

    import uvicorn

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    url_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{url_host}:{port}/" + (f"?token={args.token}" if args.token else "")
    state = session.state()
    print(f"review app: {url}", flush=True)
    print(f"{state['reviewed']} of {len(state['entries'])} clips reviewed; live scoring "
          f"{'on' if scorer else 'off'}; Ctrl-C stops (every save is already on disk)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how a review session ends: uvicorn has stopped, every save is on disk
        print("review app stopped", flush=True)
    entries = session.entries()
    stand_in = review.simulated_stand_in(entries)
    if stand_in:
        run.add_stand_in(stand_in)
    run.add_input_file("--review_csv", args.review_csv)
    run.results.update(reviewed=sum(bool(entry.annotation) for entry in entries), on_the_sheet=len(entries),
                       simulated_annotations=sum(map(review.is_simulated, entries)))
    return 0

