"""Label Studio, for teams that review in it: tasks out, annotations back in.

Out (``export_taxonomy.py --label_studio_json``): one task per file of the review queue (or every
file), a JSON list Label Studio imports as it is::

    {"data": {"audio": "<url or path>", "filename": "a.wav", "row": 1, "mllm_answer": "...",
              "best_label": "traffic noise", "clap_score": 0.53, "reason": "lowest 1%", "taxonomy": "..."},
     "predictions": [{"model_version": "<CLAP model>", "score": 0.53,
                      "result": [{"from_name": "label", "to_name": "audio", "type": "textarea",
                                  "value": {"text": ["traffic noise"]}}]}]}

A file without a label has no prediction. Beside the tasks goes the labeling configuration of the
project (:data:`LABELING_CONFIG`): the clip, its file name, the model's answer, the taxonomy path, and
a text area pre-filled with the prediction (CLAP's best label) for the reviewer's note.

Back (``util_label_studio_import.py``): Label Studio's JSON export of the annotated project (the
same tasks with ``"annotations": [{"result": [...same shape...], "was_cancelled": false}, ...]``)
becomes the suite's annotations CSV. Tasks are matched to rows by the file name the task carries
(``data.filename``; else the last part of ``data.audio``), so the export may list the tasks in any
order and hold only some of them. A task's note is the text of its last annotation that was not
skipped; a submitted annotation is a note even where it kept the prediction unchanged (the reviewer
confirmed CLAP's label).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from typing import Iterable, Sequence
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import formats
from .errors import UserError, one_line

#: The names tying the tasks' predictions and the exported annotations to the labeling config.
FROM_NAME, TO_NAME, RESULT_TYPE = "label", "audio", "textarea"

LABELING_CONFIG = f"""<View>
  <Header value="$filename"/>
  <Audio name="{TO_NAME}" value="$audio" hotkey="ctrl+space"/>
  <Header value="What the model heard" size="6"/>
  <Text name="mllm_answer" value="$mllm_answer"/>
  <Header value="Where the taxonomy puts it" size="6"/>
  <Text name="taxonomy" value="$taxonomy"/>
  <Header value="Your label (word pairs, separated by commas); pre-filled with CLAP's best label" size="6"/>
  <TextArea name="{FROM_NAME}" toName="{TO_NAME}" editable="true" maxSubmissions="1" rows="2"
            placeholder="e.g. traffic noise, car horn"/>
</View>
"""


def audio_url(path: str, prefix: str) -> str:
    """How a task points at its clip: the path as given, or - with ``prefix`` (Label Studio's local
    files, ``/data/local-files/?d=``, or a web server's base URL) - the prefix and the path
    percent-encoded."""
    return prefix + quote(path.replace(os.sep, "/"), safe="/") if prefix else path


def task(filename: str, row: int, audio: str, mllm_answer: str, best_label: str, clap_score: float, reason: str,
         taxonomy: str, model_version: str) -> dict:
    """One task: the data a reviewer sees, and CLAP's best label as the prediction."""
    score = None if math.isnan(clap_score) else clap_score
    data = {"audio": audio, "filename": filename, "row": row, "mllm_answer": mllm_answer, "best_label": best_label,
            "clap_score": score, "reason": reason, "taxonomy": taxonomy}
    predictions = []
    if best_label and score is not None:
        predictions.append({"model_version": model_version, "score": score, "result": [
            {"from_name": FROM_NAME, "to_name": TO_NAME, "type": RESULT_TYPE, "value": {"text": [best_label]}}]})
    return {"data": data, "predictions": predictions}


def format_tasks(tasks: Iterable[dict]) -> str:
    return json.dumps(list(tasks), indent=1, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------------------------
# reading an export back


def read_export(path: formats.PathLike) -> list[dict]:
    """The tasks of a Label Studio JSON export (a list of tasks, each with ``data``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            tasks = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: Label Studio export not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a Label Studio JSON export ({one_line(err, limit=200)})") from None
    if not isinstance(tasks, list):
        raise UserError(f"{path}: not a Label Studio JSON export (expected a list of tasks; export the project as "
                        "JSON, not JSON_MIN or CSV)")
    for number, item in enumerate(tasks, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise UserError(f"{path}: task {number} has no \"data\" object; is this a Label Studio JSON export?")
    return tasks


#: Label Studio stores an uploaded file as ``upload/<project>/<8 hex digits>-<its name>``.
UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def task_file_names(item: dict) -> list[str]:
    """The names the file a task is about may have in the file list: ``data.filename`` as our tasks
    carry it; else the last part of the audio URL (``/data/local-files/?d=audio/a.wav`` -> ``a.wav``)
    and, for a file uploaded to Label Studio, that name without the prefix the upload gave it."""
    data = item["data"]
    if isinstance(data.get("filename"), str) and data["filename"]:
        return [data["filename"]]
    url = urlsplit(str(data.get("audio") or ""))
    local = parse_qs(url.query).get("d")
    name = os.path.basename(unquote(local[0] if local else url.path))
    return [name, UPLOAD_PREFIX.sub("", name)] if UPLOAD_PREFIX.match(name) else [name]


def task_note(item: dict) -> str:
    """The note of a task: the text of its last annotation that was not skipped ("" for none)."""
    notes = []
    for annotation in item.get("annotations") or []:
        if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
            continue
        texts = [text for result in annotation.get("result") or [] if _is_our_text(result)
                 for text in (result.get("value") or {}).get("text") or []]
        note = ", ".join(filter(None, (formats.one_line_note(str(text)) for text in texts)))
        if note:
            notes.append(note)
    return notes[-1] if notes else ""


def _is_our_text(result) -> bool:
    """A result of the labeling config's text area (not another tag a team added to the project)."""
    return isinstance(result, dict) and result.get("type") == RESULT_TYPE and result.get("from_name") == FROM_NAME


def notes_by_row(tasks: Sequence[dict], filenames: Sequence[str], export_path: str,
                 files_source: str) -> dict[int, str]:
    """Row (1-based, in ``filenames``' order) -> the note of the task about that file, for the
    tasks that have one. A task about a file not in ``filenames``, or two tasks with different notes
    for one file, stop with one line; where two files share a name, the task's ``data.row`` decides."""
    rows_of = defaultdict(list)
    for row, name in enumerate(filenames, start=1):
        rows_of[name].append(row)
    notes: dict[int, str] = {}
    note_from: dict[int, str] = {}
    for number, item in enumerate(tasks, start=1):
        label = f"task {item.get('id', number)}"
        names = task_file_names(item)
        name = next((name for name in names if name in rows_of), names[0])
        rows = rows_of.get(name)
        if not rows:
            raise UserError(f"{export_path}: {label} is about {name!r}, which is not a file of {files_source}; "
                            "was the export made from another run's tasks?")
        row = rows[0]
        if len(rows) > 1:
            row = item["data"].get("row")
            if row not in rows:
                raise UserError(f"{export_path}: {label}: {len(rows)} files of {files_source} are named {name!r} and "
                                "the task's data.row does not say which")
        note = task_note(item)
        if not note:
            continue
        if row in notes and notes[row] != note:
            raise UserError(f"{export_path}: {note_from[row]} and {label} both annotate {name!r}, with different notes "
                            f"({notes[row]!r}, {note!r}); delete one of the tasks in Label Studio and export again")
        notes[row], note_from[row] = note, label
    return notes
