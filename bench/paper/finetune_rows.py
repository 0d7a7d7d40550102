"""Records of the ``finetune`` protocol as the paper's table rows: one row per adaptation mode.

A finetune record holds every adaptation of one pretrained model on one dataset and seed
(``sessions[i].points``: mode ``ui`` / ``ft`` / ``scratch`` x training-set size). The paper's rows
are "o-POSSM (FT)", "POYO-mp + Unit ID" ...: one mode, all the new session's training trials. So
each record becomes one record per mode, labelled ``<label>-<mode>`` (unchanged when the label
already ends so, e.g. a suite's ``o-possm-gru-ft``; ``scratch`` keeps its label), whose session
metrics and fit are that mode's adaptation on all trials (``train_trials: all``). A record without
such points (another protocol, or a size sweep without ``all``) is left as it is, or out.

A record that lists sessions under ``scores.seen_in_pretraining`` (fine-tuned on sessions the
model was pretrained on) gives its cell the mark "seen in pretraining".
"""

from __future__ import annotations

from typing import Iterable

from bench.results.records import Record

FINETUNE = "finetune"
ALL_TRIALS = "all"
SEEN = "seen in pretraining"


def mode_label(label: str, mode: str) -> str:
    return label if mode == "scratch" or label.endswith(f"-{mode}") else f"{label}-{mode}"


def adaptation_records(records: Iterable[Record]) -> list[Record]:
    """``records`` with each finetune record split into one record per mode (see module doc)."""
    out = []
    for rec in records:
        modes = rec.scores.get("modes") if rec.protocol == FINETUNE else None
        if not modes or not any(s.points for s in rec.sessions):
            out.append(rec)  # no adaptations to split: as it is (a failed run keeps its failure)
            continue
        for mode in modes:
            sessions = []
            for s in rec.sessions:
                point = next((p for p in s.points if p.setting.get("mode") == mode
                              and p.setting.get("train_trials") == ALL_TRIALS), None)
                if point is None:
                    break
                sessions.append(s.model_copy(update={"metrics": point.metrics, "fit": point.fit,
                                                     "train_seconds": point.train_seconds, "points": []}))
            else:
                out.append(rec.model_copy(update={"label": mode_label(rec.label, mode), "sessions": sessions}))
    return out


def seen_marks(cells: Iterable) -> None:
    """Add the 'seen in pretraining' mark to every cell with a record fine-tuned on sessions of its
    pretraining data (``bench.paper.cells.Cell``; the detail lists them)."""
    for cell in cells:
        seen = sorted({sid for r in cell.records for sid in r.scores.get("seen_in_pretraining") or []})
        if seen:
            n = len({s.recording_id for r in cell.records for s in r.sessions})
            cell.marks.append(f"{SEEN}: {len(seen)} of {n} session(s) ({', '.join(seen[:3])}"
                              f"{', ...' if len(seen) > 3 else ''}) were in the pretraining data; fine-tuned and "
                              "tested on their test trials, which pretraining never trained on")
