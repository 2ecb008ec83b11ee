"""The paper's experiments as one staged recipe, from raw data to the tables (auditoryhum_tests.sh).

    ./auditoryhum_tests.sh --help
    ./auditoryhum_tests.sh --model_dir models                       # everything, the paper's datasets
    ./auditoryhum_tests.sh --stage 11 --stop_stage 14               # re-cluster and re-report only
    ./auditoryhum_tests.sh --dry_run true                           # every step and whether it would run

The stages are defined here once (:data:`STAGES`: name, the stages whose outputs it reads, what it
does), and so is each stage's plan: the steps it makes, each a script of the suite with its exact
arguments and its output, laid out as :mod:`auditoryhum.experiment` says. The models come from
:mod:`auditoryhum.models` and the clustering algorithms from :data:`auditoryhum.clustering.ALGORITHMS`,
so a model or an algorithm added there is run here and reported without an edit to this file.

A step is done when the run record beside its output (``<output>.run.json``) says a finished run of
the same command made it from inputs that still match the files on disk (by content); otherwise it
runs again, and so does every step downstream whose inputs it changes. All of this is checked in
this one process, which starts each script as a child and writes, beside each output, the exact
command (``<output>.cmd``) and what it printed (``<output>.log``).

The human review (stage 6) is the one step that waits for a person: with no published annotations
and no ``--simulate_annotations true``, it writes the review sheet and says how to review it; the
merge, the re-scoring and the boost wait until the notes are there, and the rest goes on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import models, records
from .clustering import ALGORITHMS
from .datasets import DATASETS, supplementary_name
from .errors import UserError, counted
from .experiment import ClusteringDir, Layout, Run, model_name
from .filelist import expand_glob
from .formats import atomic_open

#: the repository's folder, holding the top-level scripts the steps run
ROOT = Path(__file__).resolve().parent.parent
GEMINI = "gemini"
#: util_review_sheet.py's exit status when the sheet holds no note yet
AWAITING_REVIEW = 3
EXIT_STEP_FAILED = 1


@dataclass(frozen=True)
class Stage:
    name: str
    needs: tuple[str, ...]  # the stages whose outputs it reads
    help: str


STAGES = (
    Stage("fetch", (), "download, verify and unpack each dataset, and the authors' supplementary data (CPU, network)"),
    Stage("resample", ("fetch",), "convert every WAV in place to 16 kHz, 16-bit, mono (util_resample.py)"),
    Stage("label", ("resample",), "label every file with each MLLM (label_<mllm>.py) - needs a GPU for the real models"),
    Stage("clap", ("resample",), "CLAP audio embeddings (features_clap.py) - a GPU helps"),
    Stage("score", ("label", "clap"), "score the MLLM labels against the audio: best label and µc / µ1% "
          "(features_clap_text.py); with two or more MLLMs, how far they agree (util_agreement.py)"),
    Stage("annotate", ("score",), "human annotations: the authors' published ones, else a review sheet (label-less "
          "files, then the lowest-scoring) for a person, or the simulated annotator when asked"),
    Stage("merge", ("label", "annotate"), "merge the annotations into the MLLM labels (util_merge_csv.py)"),
    Stage("rescore", ("clap", "merge"), "score the merged labels (features_clap_text.py)"),
    Stage("boost", ("score", "annotate", "rescore"), "HITL boost: mean score of the annotated rows before and after "
          "(util_score_boost.py)"),
    Stage("embed", ("score",), "sentence embeddings of the best labels, before the review as published (features_st.py)"),
    Stage("sweep", ("embed",), "adjusted-silhouette k sweep, chosen k (cluster_sweep.py)"),
    Stage("compare", ("embed", "sweep"), "every clustering algorithm at the chosen k and --compare_k, and those that "
          "choose their own k (cluster_*.py)"),
    Stage("composite", ("score", "compare"), "composite statistics of every partition, composite labels and the "
          "taxonomy page (composite_*.py, taxonomy_report.py)"),
    Stage("report", ("score", "rescore", "boost", "sweep", "compare"), "the paper's tables as markdown and CSV, sweep "
          "curves side by side (report)"),
)
STAGE_NUMBER = {stage.name: number for number, stage in enumerate(STAGES, start=1)}
LAST_STAGE = len(STAGES)


# ----------------------------------------------------------------------------------------------
# options


def _bool(value: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _k(value: str) -> str:
    if value != "U" and not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of clusters or U")
    return value


def registry_datasets() -> list[str]:
    return [name for name, dataset in DATASETS.items() if not dataset.is_supplementary]


def mllm_names() -> list[str]:
    return [*models.MLLMS, GEMINI]


def _stage_number(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"--stage and --stop_stage take stage numbers, 1 to {LAST_STAGE} (see --help)")
    return int(value)


class _Parser(argparse.ArgumentParser):
    """Stops with one line, as every check of the recipe does."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            raise UserError(f"unknown option {message.split(': ', 1)[1]} (options are --name value; see --help)")
        if message.startswith("argument "):
            flag, _, why = message[len("argument "):].partition(": ")
            flag = flag.split("/")[-1]
            if "expected true or false" in why:
                raise UserError(f"{flag}={why.rsplit('got ', 1)[-1].strip(chr(39))}: expected true or false")
            raise UserError(why if "stage numbers" in why else f"{flag}: {why}")
        raise UserError(message)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action):
        text = action.help or ""
        if isinstance(action.default, bool):
            text += f" [{str(action.default).lower()}]"
        elif action.default not in (None, "", argparse.SUPPRESS) and "%(default)" not in text:
            text += " [%(default)s]"
        return text


def get_parser() -> argparse.ArgumentParser:
    stages = "\n".join(f"  {number:2d}  {stage.name:<10} {stage.help}" for number, stage in enumerate(STAGES, 1))
    parser = _Parser(
        prog="auditoryhum_tests.sh",
        usage='%(prog)s [--stage N] [--stop_stage M] [--datasets "A B"] [--mllms "A B"] [option value ...]',
        formatter_class=_Formatter,
        description=(
            "The AuditoryHuM experiments as a staged recipe. A step whose output was made by a finished run of\n"
            "the same command, from inputs that have not changed since, is skipped, so a run resumes where it\n"
            "stopped; <output>.run.json, .cmd and .log beside each output say how it was made.\n\nStages:\n"
            + stages),
        epilog=("A GPU is needed by stage 3 with the real MLLMs (3B-30B parameters, loaded 4-bit on CUDA as\n"
                "published); stages 4, 5, 8, 10 and 13 run on a CPU, faster on a GPU; the rest is CPU.\n"
                "Boolean options take true or false (alone: true)."),
    )
    add = parser.add_argument
    add("--stage", type=_stage_number, default=1, help="first stage to run")
    add("--stop_stage", type=_stage_number, default=LAST_STAGE, help="last stage to run")
    add("--datasets", default="advance ahead_ds tau2019",
        help=f"{' '.join(registry_datasets())} (the published sources), example (the bundled example recordings), "
        "or any NAME whose WAVs you put in <data_dir>/NAME/wav/")
    add("--mllms", default="qwen2a qwen2_5o gemma3n", help=" ".join(mllm_names()))
    add("--model_dir", default="models", help="folder holding the git-cloned models; a model value is a folder name "
        "under it, or a path (anything with a /)")
    add("--clap_model", default=models.HUMAN_CLAP.default_model, help="CLAP model folder(s); every one is scored and "
        "reported")
    add("--st_model", default=models.MPNET.default_model, help="sentence-transformer folder")
    for model in models.MLLMS.values():
        add(f"--{model.model_flag}", default=model.default_model, help=f"{model.display_name} folder")
    add("--genai_id", default="gemini-2.5-flash", help="Gemini model for --mllms gemini; key from GEMINI_API_KEY")
    add("--llm_model", default="", help="chat LLM (a folder, or a .gguf file) naming the clusters (stage 13); empty: "
        "only the prompts are written")
    add("--data_dir", default="data", help="where the data goes")
    add("--exp_dir", default="exp", help="where the results go")
    add("--python", default=sys.executable, help="interpreter that runs the scripts")
    add("--device", default="auto", help="auto, cpu, cuda, cuda:N for the model stages")
    add("--mllm_dtype", default="auto", choices=("auto", "bfloat16", "float16", "float32"),
        help="MLLM weights: auto (on CUDA 4-bit NF4 as the published runs, on CPU float32)")
    add("--load_in_4bit", type=_bool, nargs="?", const=True, default=False,
        help="insist on 4-bit MLLMs (what auto gives on CUDA)")
    add("--label_batch_size", type=int, default=1, help="files per MLLM generate() call")
    add("--cluster_labels", default="mllm", choices=("mllm", "reviewed"),
        help="which best labels are embedded, swept and described: the MLLM's, before the human review (as "
        "published), or the reviewed ones (results in <st>.reviewed/)")
    add("--penalty", default="", help="lambda of S_adj(k) = S(k) - lambda*k; empty: 1/U")
    add("--k_max", default="", help="largest k of the sweep; empty: U (840 is the published range)")
    add("--compare_k", default="2 U", help="k values the algorithms are compared at, besides the chosen k; U stands "
        "for the number of distinct labels (published: \"2 152 668\" for ADVANCE)")
    add("--min_cluster_size", type=int, default=5,
        help="smallest cluster of the algorithms that choose their own k (HDBSCAN)")
    add("--review_fraction", type=float, default=0.01, help="share of the scored files, lowest CLAP score first, put "
        "on the review sheet after the files without a label")
    add("--simulate_annotations", type=_bool, nargs="?", const=True, default=False,
        help="with no published annotations, fill the review sheet from the file names instead of waiting for a "
        "person (a stand-in annotator, marked as such in every result)")
    add("--use_provided_labels", type=_bool, nargs="?", const=True, default=False,
        help="take the authors' published labels from the supplementary data instead of running the MLLMs (no GPU)")
    add("--overwrite", type=_bool, nargs="?", const=True, default=False, help="redo every step, finished or not")
    add("--dry_run", type=_bool, nargs="?", const=True, default=False,
        help="print every step of the stages, with its command and whether it would run, and what stage 1 would "
        "download; run nothing")
    return parser


@dataclass
class Options:
    """The recipe's options, checked."""

    stage: int
    stop_stage: int
    datasets: list[str]
    mllms: list[str]
    clap_models: list[str]
    model_dir: str
    st_model: str
    mllm_models: dict[str, str]  # MLLM key -> its folder option's value
    genai_id: str
    llm_model: str
    layout: Layout
    python: str
    device: str
    mllm_dtype: str
    load_in_4bit: bool
    label_batch_size: int
    reviewed_labels: bool
    penalty: str
    k_max: str
    compare_k: list[str]
    min_cluster_size: int
    review_fraction: float
    simulate_annotations: bool
    use_provided_labels: bool
    overwrite: bool
    dry_run: bool

    def model_path(self, value: str) -> str:
        """A model option's folder: a name under --model_dir, or a path (anything with a /)."""
        return value if "/" in value else f"{self.model_dir}/{value}"

    @property
    def runs(self) -> list[Run]:
        return [Run(ds, mllm, model_name(clap)) for ds in self.datasets for mllm in self.mllms
                for clap in self.clap_models]

    def clap_of(self, run: Run) -> str:
        return next(clap for clap in self.clap_models if model_name(clap) == run.clap)

    def runs_stage(self, name: str) -> bool:
        return self.stage <= STAGE_NUMBER[name] <= self.stop_stage


def parse_options(argv: list[str]) -> Options:
    """The options of ``argv``, every one checked before any work (one line for a bad one)."""
    args = get_parser().parse_args(argv)
    if not 1 <= args.stage <= args.stop_stage <= LAST_STAGE:
        raise UserError(f"--stage {args.stage} --stop_stage {args.stop_stage}: need 1 <= stage <= stop_stage <= "
                        f"{LAST_STAGE}")
    for name in ("datasets", "mllms", "clap_model"):
        if not getattr(args, name).split():
            raise UserError(f"--{name} is empty")
    if args.k_max and not args.k_max.isdigit():
        raise UserError(f"--k_max={args.k_max}: expected a number of clusters (empty: U)")
    for k in args.compare_k.split():
        try:
            _k(k)
        except argparse.ArgumentTypeError as err:
            raise UserError(f"--compare_k: {err}") from None
    if args.label_batch_size < 1:
        raise UserError(f"--label_batch_size={args.label_batch_size}: must be at least 1")
    if not 0 < args.review_fraction <= 1:
        raise UserError(f"--review_fraction={args.review_fraction}: must be in (0, 1]")
    unknown = [mllm for mllm in args.mllms.split() if mllm not in mllm_names()]
    if unknown:
        raise UserError(f"unknown MLLM '{unknown[0]}' in --mllms: use some of {' '.join(mllm_names())}")
    options = Options(
        stage=args.stage, stop_stage=args.stop_stage, datasets=args.datasets.split(), mllms=args.mllms.split(),
        clap_models=args.clap_model.split(), model_dir=args.model_dir, st_model=args.st_model,
        mllm_models={key: getattr(args, model.model_flag) for key, model in models.MLLMS.items()},
        genai_id=args.genai_id, llm_model=args.llm_model, layout=Layout(Path(args.data_dir), Path(args.exp_dir)),
        python=args.python, device=args.device, mllm_dtype=args.mllm_dtype, load_in_4bit=args.load_in_4bit,
        label_batch_size=args.label_batch_size, reviewed_labels=args.cluster_labels == "reviewed",
        penalty=args.penalty, k_max=args.k_max, compare_k=args.compare_k.split(),
        min_cluster_size=args.min_cluster_size, review_fraction=args.review_fraction,
        simulate_annotations=args.simulate_annotations, use_provided_labels=args.use_provided_labels,
        overwrite=args.overwrite, dry_run=args.dry_run)
    for dataset in options.datasets:
        if dataset_kind(dataset) == LOCAL and not expand_glob(options.layout.wav_glob(dataset)):
            raise UserError(f"unknown dataset '{dataset}': use one of {' '.join(registry_datasets())} example, or put "
                            f"your WAV files in {options.layout.wav_dir(dataset)}/")
    return options


REGISTRY, EXAMPLE, LOCAL = "registry", "example", "local"


def dataset_kind(dataset: str) -> str:
    if dataset in registry_datasets():
        return REGISTRY
    return EXAMPLE if dataset == "example" else LOCAL


# ----------------------------------------------------------------------------------------------
# steps


@dataclass
class Step:
    """One output and how it is made."""

    output: Path

    def command(self, recipe: "Recipe") -> list[str]:
        raise NotImplementedError

    def why_run(self, recipe: "Recipe") -> str | None:
        """None when the output is done; else why it must be made (again)."""
        raise NotImplementedError

    @property
    def done_as(self) -> str:
        """How a done output is said to be done."""
        return "done"


@dataclass
class ScriptStep(Step):
    """A script of the suite (``<script>.py ARGS``, or ``-m MODULE ARGS``), done when its run record
    says so (:func:`auditoryhum.records.up_to_date`)."""

    script: str = ""
    args: list[str] = field(default_factory=list)
    module: bool = False  # run as ``python -m auditoryhum.scripts.<script>``
    #: exit status -> what it means, for statuses that are not failures (the review that waits)
    waits_on: dict[int, str] = field(default_factory=dict)
    #: a further check of the record (the report: the set of records it read)
    also_check: Callable[[dict], str | None] | None = None

    def command(self, recipe):
        if self.module:
            return [recipe.options.python, "-m", f"auditoryhum.scripts.{self.script}", *self.args]
        return [recipe.options.python, str(ROOT / f"{self.script}.py"), *self.args]

    def why_run(self, recipe):
        why = records.up_to_date(self.output, self.args)
        if why is None and self.also_check is not None:
            why = self.also_check(records.read_record(self.output, check_output=False, quiet=True) or {})
        return why


@dataclass
class OnceStep(Step):
    """A command that keeps no run record (a download): done when its output exists; the output is
    what the command printed, and appears only on success."""

    argv: list[str] = field(default_factory=list)

    def command(self, recipe):
        return [recipe.options.python, *self.argv]

    def why_run(self, recipe):
        return None if self.output.exists() else "missing"


@dataclass
class CopyStep(Step):
    """A published file taken as it is: made again once it no longer equals its source (a file
    fetched again), so the steps that read it see the change."""

    source: Path = Path()

    def command(self, recipe):
        return ["cp", str(self.source), str(self.output)]

    def why_run(self, recipe):
        if not self.output.exists():
            return "missing"
        return None if records.sha256_of(self.output) == records.sha256_of(self.source) else f"{self.source} changed"

    @property
    def done_as(self) -> str:
        return f"same as {self.source}"


@dataclass
class Waiting(Step):
    """A step that cannot run yet, and why (the human review is not done)."""

    reason: str = ""


# ----------------------------------------------------------------------------------------------
# the plan of each stage


class RecipeError(UserError):
    pass


class Recipe:
    """The plan of every stage for these options, and the run of it."""

    def __init__(self, options: Options):
        self.options = options
        self.layout = options.layout
        self.steps_run = self.steps_skipped = self.steps_waiting = 0

    # -- what each stage makes -----------------------------------------------------------

    def plan(self, name: str) -> Iterator[Step]:
        return getattr(self, f"_plan_{name}")()

    def _plan_fetch(self):
        o, layout = self.options, self.layout
        needs_supplementary = o.use_provided_labels
        for dataset in o.datasets:
            kind = dataset_kind(dataset)
            if kind == REGISTRY:
                needs_supplementary = True
                yield OnceStep(layout.fetched(dataset), argv=["-m", "auditoryhum.scripts.fetch_data", "--datasets",
                                                              dataset, "--data_dir", str(layout.data_dir)])
            elif kind == EXAMPLE:
                yield OnceStep(layout.fetched(dataset), argv=["-m", "auditoryhum.scripts.example_data", "--out",
                                                              str(layout.wav_dir(dataset))])
        if needs_supplementary:
            yield OnceStep(layout.supplementary_dir / "fetch.done",
                           argv=["-m", "auditoryhum.scripts.fetch_data", "--datasets", "supplementary", "--data_dir",
                                 str(layout.data_dir)])

    def _plan_resample(self):
        # A recording ffmpeg cannot convert stays as it is and is carried as unreadable (blank label,
        # NaN rows); only a dataset where no file can be converted stops here.
        for dataset in self.options.datasets:
            done = self.layout.resampled(dataset)
            yield ScriptStep(done, script="util_resample", args=[
                f"--filedir={self.layout.wav_glob(dataset)}", "--sampling_rate=16000", "--bits=s16", "--channels=1",
                "--allow_failures", f"--summary_txt={done}"])

    def _label_args(self) -> list[str]:
        o = self.options
        args = [f"--device={o.device}", f"--dtype={o.mllm_dtype}", f"--batch_size={o.label_batch_size}"]
        if not o.overwrite:  # an interrupted labelling run continues where it stopped
            args.append("--resume")
        if o.load_in_4bit:
            args.append("--load_in_4bit")
        return args

    def _plan_label(self):
        o, layout = self.options, self.layout
        for dataset in o.datasets:
            for mllm in o.mllms:
                out = layout.labels(dataset, mllm)
                if o.use_provided_labels:
                    yield CopyStep(out, source=self._published(dataset, mllm, "labels"))
                elif mllm == GEMINI:
                    yield ScriptStep(out, script="label_google_gen_ai_cloud", args=[
                        f"--filedir={layout.wav_glob(dataset)}", f"--genai_id={o.genai_id}", f"--text_label_csv={out}",
                        *(["--resume"] if not o.overwrite else [])])
                else:
                    model = models.MLLMS[mllm]
                    yield ScriptStep(out, script=model.label_script, args=[
                        f"--filedir={layout.wav_glob(dataset)}",
                        f"--{model.model_flag}={o.model_path(o.mllm_models[mllm])}", f"--text_label_csv={out}",
                        *self._label_args()])

    def _published(self, dataset: str, mllm: str, kind: str) -> Path:
        return self.layout.supplementary_dir / supplementary_name(dataset, mllm, kind)

    def _plan_clap(self):
        o = self.options
        for dataset in o.datasets:
            for clap in o.clap_models:
                out = self.layout.clap_npy(dataset, clap)
                yield ScriptStep(out, script="features_clap", args=[
                    f"--filedir={self.layout.wav_glob(dataset)}", f"--clap_model={o.model_path(clap)}",
                    f"--clap_npy={out}", f"--device={o.device}"])

    def _score(self, run: Run, labels: Path, out: Path) -> ScriptStep:
        o = self.options
        clap = o.clap_of(run)
        return ScriptStep(out, script="features_clap_text", args=[
            f"--filedir={self.layout.wav_glob(run.dataset)}", f"--clap_model={o.model_path(clap)}",
            f"--clap_npy={self.layout.clap_npy(run.dataset, clap)}", f"--text_label_csv={labels}",
            f"--top_label_scores_csv={out}", f"--device={o.device}"])

    def _plan_score(self):
        o, layout = self.options, self.layout
        for run in o.runs:
            yield self._score(run, layout.labels(run.dataset, run.mllm), layout.scores(run))
        if len(o.mllms) >= 2:  # how far the MLLMs agree on each dataset (the report's agreement table)
            for dataset in o.datasets:
                yield ScriptStep(layout.agreement(dataset), script="util_agreement", args=[
                    "--text_label_csvs", *(str(layout.labels(dataset, mllm)) for mllm in o.mllms),
                    "--names", *o.mllms, f"--st_model={o.model_path(o.st_model)}", f"--device={o.device}",
                    f"--json_out={layout.agreement(dataset)}", f"--pairs_csv={layout.agreement_csv(dataset)}"])

    def _first_run(self, dataset: str, mllm: str) -> Run:
        """The review sheet is made from the scores of the first CLAP model."""
        return Run(dataset, mllm, model_name(self.options.clap_models[0]))

    def review_app_command(self, dataset: str, mllm: str) -> str:
        o, layout = self.options, self.layout
        run = self._first_run(dataset, mllm)
        return shlex.join([
            "python3", str(ROOT / "util_review_app.py"), f"--review_csv={layout.review_sheet(dataset, mllm)}",
            f"--filedir={layout.wav_glob(dataset)}", f"--top_label_scores_csv={layout.scores(run)}",
            f"--text_label_csv={layout.labels(dataset, mllm)}", f"--clap_model={o.model_path(o.clap_models[0])}",
            f"--clap_npy={layout.clap_npy(dataset, o.clap_models[0])}",
            f"--annotations_csv={layout.annotations(dataset, mllm)}"])

    def _plan_annotate(self):
        # The authors' annotations where published; otherwise the paper's HITL step: the label-less
        # and lowest-scoring files go on a review sheet for a person (or the simulated annotator).
        o, layout = self.options, self.layout
        for dataset in o.datasets:
            for mllm in o.mllms:
                published = self._published(dataset, mllm, "labels_annotations")
                out = layout.annotations(dataset, mllm)
                if published.is_file():
                    yield CopyStep(out, source=published)
                    continue
                sheet = layout.review_sheet(dataset, mllm)
                waiting = (f"nothing to merge yet: {sheet} waits for a person. Review it in the review app:\n"
                           f"      {self.review_app_command(dataset, mllm)}\n"
                           "    (or fill in its annotation column in a spreadsheet), then run the recipe again; "
                           "--simulate_annotations true makes up the notes from the file names instead")
                yield ScriptStep(out, script="util_review_sheet", waits_on={AWAITING_REVIEW: waiting}, args=[
                    f"--top_label_scores_csv={layout.scores(self._first_run(dataset, mllm))}",
                    f"--review_csv={sheet}", f"--annotations_csv={out}", f"--fraction={o.review_fraction:g}",
                    *(["--simulate_from_filenames"] if o.simulate_annotations else [])])

    def _waiting_for(self, needed: Path, output: Path) -> Waiting | None:
        if needed.exists():
            return None
        return Waiting(output, reason=f"waiting for the human review: {needed} is not there yet (stage "
                                      f"{STAGE_NUMBER['annotate']} says how to review)")

    def _plan_merge(self):
        layout = self.layout
        for dataset in self.options.datasets:
            for mllm in self.options.mllms:
                annotations, out = layout.annotations(dataset, mllm), layout.merged_labels(dataset, mllm)
                yield self._waiting_for(annotations, out) or ScriptStep(out, script="util_merge_csv", args=[
                    f"--csv1={layout.labels(dataset, mllm)}", f"--csv2={annotations}", f"--csv3={out}"])

    def _plan_rescore(self):
        layout = self.layout
        for run in self.options.runs:
            merged, out = layout.merged_labels(run.dataset, run.mllm), layout.scores_with_annotations(run)
            yield self._waiting_for(merged, out) or self._score(run, merged, out)

    def _plan_boost(self):
        layout = self.layout
        for run in self.options.runs:
            after, out = layout.scores_with_annotations(run), layout.boost(run)
            yield self._waiting_for(after, out) or ScriptStep(out, script="util_score_boost", args=[
                f"--csv1={layout.scores(run)}", f"--csv2={after}",
                f"--csv3={layout.annotations(run.dataset, run.mllm)}", f"--summary_txt={out}"])

    # -- clustering ------------------------------------------------------------------------

    def clustered_scores(self, run: Run) -> Path:
        """The scores whose best labels are clustered: the MLLM's (as published) or the reviewed ones."""
        if self.options.reviewed_labels:
            return self.layout.scores_with_annotations(run)
        return self.layout.scores(run)

    def clustering_dir(self, run: Run) -> ClusteringDir:
        return ClusteringDir(self.layout.st_dir(run, self.options.st_model, self.options.reviewed_labels))

    def _plan_embed(self):
        o = self.options
        for run in o.runs:
            scores, out = self.clustered_scores(run), self.clustering_dir(run).st_npy
            yield (self._waiting_for(scores, out) if o.reviewed_labels else None) or ScriptStep(
                out, script="features_st", args=[f"--st_model={o.model_path(o.st_model)}", f"--label_csv={scores}",
                                                 f"--st_npy={out}", f"--device={o.device}"])

    def _plan_sweep(self):
        o = self.options
        for run in o.runs:
            c = self.clustering_dir(run)
            if not c.st_npy.exists() and o.reviewed_labels:
                yield self._waiting_for(c.st_npy, c.sweep_csv)
                continue
            yield ScriptStep(c.sweep_csv, script="cluster_sweep", args=[
                f"--cluster_npy={c.st_npy}", *([f"--penalty={o.penalty}"] if o.penalty else []),
                *([f"--k_max={o.k_max}"] if o.k_max else []), f"--sweep_csv={c.sweep_csv}",
                f"--label_csv={c.sweep_ids}", f"--png_plot={c.sweep_png}", f"--tsne_png={c.sweep_tsne}"])

    def compared_ks(self, c: ClusteringDir) -> list[int]:
        """The chosen k (from the sweep's record) and --compare_k, U being the number of distinct
        labels embedded (from the embeddings' record)."""
        chosen = _result(c.sweep_csv, "chosen_k")
        if chosen is None:
            raise RecipeError(f"{c.sweep_csv}: no finished sweep; run stage {STAGE_NUMBER['sweep']} (sweep) first")
        unique = _result(c.st_npy, "distinct_labels")
        if unique is None:
            raise RecipeError(f"{c.st_npy}: no finished embedding; run stage {STAGE_NUMBER['embed']} (embed) first")
        return sorted({int(chosen), *(int(unique) if k == "U" else int(k) for k in self.options.compare_k)})

    def _clusterable(self, run: Run) -> ClusteringDir | None:
        c = self.clustering_dir(run)
        return c if (c.sweep_csv.exists() or not self.options.reviewed_labels) else None

    def _plan_compare(self):
        o = self.options
        for run in o.runs:
            c = self._clusterable(run)
            if c is None:
                yield self._waiting_for(self.clustering_dir(run).sweep_csv, self.clustering_dir(run).compare_dir)
                continue
            ks = self.compared_ks(c)
            for algorithm in ALGORITHMS.values():
                for k in ks if algorithm.takes_k else [None]:
                    out = c.compared(algorithm.key, k)
                    size = f"--n_clusters={k}" if k is not None else f"--min_cluster_size={o.min_cluster_size}"
                    yield ScriptStep(out, script=algorithm.script, args=[
                        f"--cluster_npy={c.st_npy}", size, f"--label_csv={out}",
                        f"--png_plot={out.with_suffix('.png')}"])

    def _plan_composite(self):
        # Composite statistics of the chosen partition and of every compared one (as the published runs
        # printed them for k = 2, the paper's k and U), composite labels of the chosen one, and the page
        # to explore the taxonomy (exp/ and data/ side by side: it plays the clips by relative path).
        o = self.options
        for run in o.runs:
            c = self._clusterable(run)
            if c is None:
                yield self._waiting_for(self.clustering_dir(run).sweep_csv, self.clustering_dir(run).taxonomy_html)
                continue
            scores = self.clustered_scores(run)
            yield ScriptStep(c.composite_stats, script="composite_label_stats", args=[
                f"--label_csv={c.sweep_ids}", f"--top_label_scores_csv={scores}", f"--json_out={c.composite_stats}",
                f"--report_txt={c.composite_stats_txt}"])
            for k in self.compared_ks(c):
                for algorithm in ALGORITHMS.values():
                    if algorithm.takes_k:
                        ids = c.compared(algorithm.key, k)
                        stats = ids.with_name(f"{ids.stem}_stats.txt")
                        yield ScriptStep(stats, script="composite_label_stats", args=[
                            f"--label_csv={ids}", f"--top_label_scores_csv={scores}", f"--report_txt={stats}"])
            if o.llm_model:
                composite = c.composite_labels
                yield ScriptStep(composite, script="composite_labels", args=[
                    f"--label_csv={c.sweep_ids}", f"--top_label_scores_csv={scores}",
                    f"--llm_model={o.model_path(o.llm_model)}", f"--composite_csv={composite}",
                    f"--prompts_txt={c.composite_prompts}", f"--device={o.device}"])
            else:
                composite = None
                yield ScriptStep(c.composite_prompts, script="composite_labels", args=[
                    f"--label_csv={c.sweep_ids}", f"--top_label_scores_csv={scores}",
                    f"--prompts_txt={c.composite_prompts}"])
            sheet = self.layout.review_sheet(run.dataset, run.mllm)
            marks_notes = o.reviewed_labels and sheet.exists()  # which labels are whose notes
            yield ScriptStep(c.taxonomy_html, script="taxonomy_report", args=[
                f"--filedir={self.layout.wav_glob(run.dataset)}", f"--top_label_scores_csv={scores}",
                f"--st_npy={c.st_npy}", f"--cluster_ids_csv={c.sweep_ids}", f"--sweep_csv={c.sweep_csv}",
                *([f"--composite_csv={composite}"] if composite else []),
                *([f"--review_csv={sheet}"] if marks_notes else []),
                f"--out_html={c.taxonomy_html}",
                f"--title=AuditoryHuM taxonomy: {run.dataset}, {run.mllm}, {run.clap}"])

    def _plan_report(self):
        layout = self.layout
        yield ScriptStep(layout.report, script="report", module=True,
                         args=[f"--exp_dir={layout.exp_dir}", f"--out={layout.report}"],
                         also_check=lambda record: _records_changed(record, layout))

    # -- running ---------------------------------------------------------------------------

    def check_before_work(self) -> None:
        """Everything that can be known wrong before the first step: the models the stages need,
        the Gemini key, the published labels, and - starting at a later stage - the outputs of the
        stages before it that this one reads."""
        o = self.options
        if o.runs_stage("label"):
            for dataset in o.datasets:
                for mllm in o.mllms:
                    if o.use_provided_labels:
                        provided = self._published(dataset, mllm, "labels")
                        if not (o.runs_stage("fetch") or provided.is_file()):
                            raise RecipeError(f"--use_provided_labels true: no published labels {provided} (stage 1 "
                                              f"fetches them where the authors published some); drop the option to "
                                              f"label with {mllm}")
                    elif mllm == GEMINI:
                        if not (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")):
                            raise RecipeError("--mllms gemini needs an API key: export GEMINI_API_KEY=<key> (stage 3)")
                    else:
                        model = models.MLLMS[mllm]
                        self._require_model(o.mllm_models[mllm], model.model_flag, f"stage 3 labels with {mllm}")
        if o.runs_stage("clap") or o.runs_stage("score") or o.runs_stage("rescore"):
            for clap in o.clap_models:
                self._require_model(clap, "clap_model", "stages 4, 5 and 8 score with CLAP")
        if o.runs_stage("embed"):
            self._require_model(o.st_model, "st_model", "stage 10 embeds the labels")
        elif o.runs_stage("score") and len(o.mllms) >= 2:
            self._require_model(o.st_model, "st_model", "stage 5 measures how far the MLLMs agree")
        if o.runs_stage("composite") and o.llm_model:
            self._require_model(o.llm_model, "llm_model", "stage 13 names the clusters")
        for number in range(o.stage, o.stop_stage + 1):
            for needed in self.needs(STAGES[number - 1]):
                if STAGE_NUMBER[needed] >= o.stage:
                    continue
                for step in self.plan(needed):
                    # what waits for the human review is said by the stage that reads it
                    waits = isinstance(step, Waiting) or (isinstance(step, ScriptStep) and step.waits_on)
                    if not waits and not step.output.exists():
                        raise RecipeError(
                            f"stage {number} ({STAGES[number - 1].name}) needs {step.output} from stage "
                            f"{STAGE_NUMBER[needed]} ({needed}), which does not exist: run from --stage "
                            f"{STAGE_NUMBER[needed]}")

    def needs(self, stage: Stage) -> tuple[str, ...]:
        """The stages ``stage`` reads from; the clustering stages read the reviewed scores with
        ``--cluster_labels reviewed``."""
        if self.options.reviewed_labels and stage.name in ("embed", "composite"):
            return tuple("rescore" if name == "score" else name for name in stage.needs)
        return stage.needs

    def _require_model(self, value: str, option: str, what_for: str) -> None:
        path = Path(self.options.model_path(value))
        if path.exists():
            return
        url = models.clone_url(model_name(value))
        raise RecipeError(f"model folder {path} not found (--{option}, {what_for}): "
                          + (f"git clone {url} {path}, or " if url else "") + f"set --{option} or --model_dir")

    def run(self) -> int:
        o = self.options
        log(f"datasets: {' '.join(o.datasets)}; MLLMs: {' '.join(o.mllms)}; CLAP: {' '.join(o.clap_models)}; "
            f"sentence model: {o.st_model}")
        for number in range(o.stage, o.stop_stage + 1):
            stage = STAGES[number - 1]
            self.current = number
            log(f"stage {number}: {stage.name} - {stage.help}")
            if stage.name == "fetch":
                for dataset in o.datasets:
                    if dataset_kind(dataset) == LOCAL:
                        log(f"  {dataset}: local dataset, {counted(len(expand_glob(self.layout.wav_glob(dataset))), 'WAV file')} "
                            f"in {self.layout.wav_dir(dataset)}, nothing to fetch")
            for step in self.plan(stage.name):
                status = self._do(step)
                if status:
                    return status
        log(f"finished stages {o.stage}..{o.stop_stage}: {self.steps_run} steps run, {self.steps_skipped} skipped"
            + (f", {self.steps_waiting} waiting for the human review" if self.steps_waiting else ""))
        return 0

    def _do(self, step: Step) -> int:
        if isinstance(step, Waiting):
            log(f"  {step.reason}; {step.output} waits")
            self.steps_waiting += 1
            return 0
        if isinstance(step, CopyStep) and not step.source.is_file():
            # stage 1 ran (so nothing was checked before the work) and did not bring this one
            raise RecipeError(f"--use_provided_labels true: the authors published no {step.source.name} (looked for "
                              f"{step.source}); drop the option to label with the MLLM here")
        why = "--overwrite true" if self.options.overwrite else step.why_run(self)
        if why is None:
            log(f"  skipped ({step.done_as}): {step.output}")
            self.steps_skipped += 1
            return 0
        if step.output.exists() and not self.options.overwrite:
            log(f"  redoing {step.output}: {why}")
        command = step.command(self)
        step.output.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{step.output}.cmd").write_text(f"cd {shlex.quote(os.getcwd())} && {shlex.join(command)}\n")
        log(f"  making {step.output}")
        self.steps_run += 1
        if isinstance(step, CopyStep):
            with atomic_open(step.output, "wb") as copy:
                copy.write(step.source.read_bytes())
            # a record of a run that made the file before no longer describes it
            records.record_path(step.output).unlink(missing_ok=True)
            return 0
        log_path = Path(f"{step.output}.log")
        if isinstance(step, OnceStep):
            with open(log_path, "wb") as err:
                done = subprocess.run(command, stdout=subprocess.PIPE, stderr=err)
                if done.returncode:
                    err.write(done.stdout)
            if done.returncode:
                return self._failed(step, log_path, done.returncode)
            with atomic_open(step.output, "wb") as out:
                out.write(done.stdout)
            _show(_readable_lines(step.output))
            return 0
        # The script's results (its stdout) are shown here and kept at the end of its log, below its
        # messages and progress (its stderr).
        with open(log_path, "wb") as messages:
            finished = subprocess.run(command, stdout=subprocess.PIPE, stderr=messages)
            if finished.stdout:
                messages.write(b"--- results (stdout) ---\n" + finished.stdout)
        status = finished.returncode
        if isinstance(step, ScriptStep) and status in step.waits_on:
            self.steps_run -= 1
            self.steps_waiting += 1
            log(f"  {step.waits_on[status]}")
            return 0
        if status:
            return self._failed(step, log_path, status)
        if not step.output.exists():
            log(f"error: stage {self.current}: '{command[1]}' succeeded but wrote no {step.output} (log: {log_path})")
            return EXIT_STEP_FAILED
        _show(finished.stdout.decode("utf-8", errors="replace").splitlines())
        return 0

    def _failed(self, step: Step, log_path: Path, status: int) -> int:
        tail = [line for line in _readable_lines(log_path)][-15:]
        for line in tail:
            print(f"    | {line}", file=sys.stderr)
        log(f"error: stage {self.current} ({STAGES[self.current - 1].name}) failed making {step.output}; log: "
            f"{log_path}, command: {step.output}.cmd")
        return status

    def dry_run(self) -> int:
        """What stage 1 would download, then every step of the selected stages with its command and
        whether it would run."""
        o = self.options
        fetch = [o.python, "-m", "auditoryhum.scripts.fetch_data", "--data_dir", str(self.layout.data_dir), "--dry_run",
                 "--datasets"]
        for dataset in o.datasets:
            kind = dataset_kind(dataset)
            sys.stdout.flush()
            if kind == REGISTRY:
                subprocess.run([*fetch, dataset], check=False)
            elif kind == EXAMPLE:
                print(f"{dataset}: python -m auditoryhum.scripts.example_data --out {self.layout.wav_dir(dataset)}")
            else:
                print(f"{dataset}: local dataset in {self.layout.wav_dir(dataset)}, nothing to fetch")
        subprocess.run([*fetch, "supplementary"], check=False)
        sys.stdout.flush()
        for number in range(o.stage, o.stop_stage + 1):
            stage = STAGES[number - 1]
            print(f"# stage {number}: {stage.name} - {stage.help}")
            try:
                steps = list(self.plan(stage.name))
            except RecipeError as err:
                print(f"#   (known once the stages before it have run: {err})")
                continue
            for step in steps:
                if isinstance(step, Waiting):
                    print(f"#   waits: {step.output} ({step.reason})")
                    continue
                why = step.why_run(self)
                print(f"#   {'done' if why is None else 'would run (' + why + ')'}: {step.output}")
                print(shlex.join(step.command(self)))
        return 0


def _result(output: Path, key: str):
    return (records.recorded_results(output, quiet=True) or {}).get(key)


def _records_changed(record: dict, layout: Layout) -> str | None:
    """Whether the report's record names every run record under the experiment folder now (an
    input that changed is found by the record's own check; a new one only here)."""
    read = {item.get("path") for item in record.get("inputs", []) if isinstance(item, dict)}
    now = {str(path) for path in report_inputs(layout.exp_dir)}
    return None if read == now else "results added or removed since"


def report_inputs(exp_dir: Path) -> list[Path]:
    """The run records the report reads: every one under the experiment folder but its own."""
    own = {Layout(exp_dir=exp_dir).report.name + records.RECORD_SUFFIX}
    return sorted(path for path in exp_dir.rglob(f"*{records.RECORD_SUFFIX}")
                  if path.name not in own and "report" not in path.relative_to(exp_dir).parts[:1])


def _readable_lines(path: Path) -> list[str]:
    """What a command printed, without progress bars and blank or debug lines."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines()
            if "\r" not in line and line.strip() and not line.startswith(("INFO:", "DEBUG:"))]


def _show(lines: list[str]) -> None:
    """The last lines a step printed as its result."""
    for line in [line for line in lines if line.strip() and "\r" not in line][-6:]:
        print(f"    {line}", file=sys.stderr)


def log(message: str) -> None:
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} [auditoryhum_tests] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run (or, with --dry_run, list) the stages; one line and a non-zero exit for what stops it."""
    try:
        options = parse_options(sys.argv[1:] if argv is None else list(argv))
        recipe = Recipe(options)
        if options.dry_run:
            return recipe.dry_run()
        recipe.check_before_work()
        return recipe.run()
    except UserError as err:
        log(f"error: {err}")
        return 2
