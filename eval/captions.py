"""Caption metrics of predictions against instruction answers (``vigil eval captions``).

Rows of the ground truth and of the predictions (the instruction test schema, answer under
``anwser`` or ``answer``) are matched by ``id``. For every group (overall, each level, each task,
each level/task pair) the answers are tokenised with the PTB tokenizer and scored with
pycocoevalcap's BLEU-1..4, METEOR, ROUGE-L and CIDEr, exactly as the COCO caption toolkit does
(one reference per item). CIDEr's document frequencies come from the group's own references,
so a small group makes it noisy; such groups are flagged. Rows that cannot be scored (an id
given twice, an answer that is not text) are refused, and so is a set of predictions whose ids
all name another item than the ground truth (the message says what differs).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from data_engine.hivau import ANSWER_KEY
from vigil.core.errors import DataError
from vigil.core.imports import require

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
#: Holmes-VAU's table: per level, BLEU (its figure is the sum of BLEU-1..4), CIDEr, METEOR, ROUGE-L
PAPER_LEVELS = ("clip", "event", "video")
PAPER_COLUMNS = ("BLEU-4", "BLEU-sum", "CIDEr", "METEOR", "ROUGE-L")
MIN_CIDER_ITEMS = 10  # fewer references than this and CIDEr's IDF says little


@dataclass
class Matched:
    """Ground truth and predictions paired by id."""

    pairs: list[tuple[dict[str, Any], dict[str, Any]]]
    missing: list[Any] = field(default_factory=list)   # ids with no prediction
    extra: list[Any] = field(default_factory=list)     # predicted ids not in the ground truth
    mismatched: list[Any] = field(default_factory=list)  # same id, different video/type/task
    differences: list[str] = field(default_factory=list)  # what differs, per mismatched id


def check_rows(rows: list[dict[str, Any]], where: str) -> None:
    """Refuse rows that cannot be scored: an id that is not an integer or text, an id given
    twice, an answer that is not text (``null``, a number, a lone surrogate).

    Raises:
        DataError: one line naming ``where`` and the id.
    """
    seen: set[Any] = set()
    for r in rows:
        i = r["id"]
        if isinstance(i, bool) or not isinstance(i, (int, str)):
            raise DataError(f"{where}: id {i!r} is not an integer or text")
        if i in seen:
            raise DataError(f"{where}: id {i!r} appears more than once; every row needs its own id")
        seen.add(i)
        answer = r[ANSWER_KEY]
        if not isinstance(answer, str):
            kind = "null" if answer is None else type(answer).__name__
            raise DataError(f"{where}: id {i!r}: the answer is {kind}, not text")
        try:
            answer.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"{where}: id {i!r}: the answer is not valid text (it holds a lone surrogate)") from None


def match(gt_rows: list[dict[str, Any]], pred_rows: list[dict[str, Any]]) -> Matched:
    """Pair rows by ``id``; note what is missing, extra, or about another item (and how)."""
    preds = {r["id"]: r for r in pred_rows}
    gt_ids = {r["id"] for r in gt_rows}
    out = Matched([])
    for g in gt_rows:
        p = preds.get(g["id"])
        if p is None:
            out.missing.append(g["id"])
            continue
        differ = [k for k in ("video", "type", "task") if k in p and p[k] != g[k]]
        if differ:
            out.mismatched.append(g["id"])
            out.differences.append(f"id {g['id']!r}: " + ", ".join(
                f"{k} {p[k]!r} (ground truth {g[k]!r})" for k in differ))
            continue
        out.pairs.append((g, p))
    out.extra = [i for i in preds if i not in gt_ids]
    return out


def _one_line(text: Any) -> str:
    """The tokenizer reads one caption per line: other line breaks would shift every caption after them."""
    return " ".join(str(text).replace("\u2028", " ").replace("\u2029", " ").replace("\x85", " ").split())


def tokenize(texts: dict[Any, str]) -> dict[Any, list[str]]:
    """PTB-tokenise (lower case, punctuation removed) with pycocoevalcap's Java tokenizer."""
    require("pycocoevalcap", "caption metrics")
    if shutil.which("java") is None:
        raise DataError("caption metrics need Java (the PTB tokenizer and METEOR run on it); install a JRE")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": v}] for k, v in texts.items()})


class Scorers:
    """pycocoevalcap's scorers, METEOR's Java process started once."""

    def __init__(self) -> None:
        require("pycocoevalcap", "caption metrics")
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge

        self.bleu, self.rouge, self.cider = Bleu(4), Rouge(), Cider()
        self.meteor = Meteor()

    def score(self, gts: dict[Any, list[str]], res: dict[Any, list[str]]) -> dict[str, float]:
        """Corpus scores of tokenised ``res`` against ``gts`` (same keys)."""
        bleu, _ = self.bleu.compute_score(gts, res, verbose=0)
        out = {f"BLEU-{n + 1}": float(b) for n, b in enumerate(bleu)}
        out["METEOR"] = float(self.meteor.compute_score(gts, res)[0])
        out["ROUGE-L"] = float(self.rouge.compute_score(gts, res)[0])
        out["CIDEr"] = float(self.cider.compute_score(gts, res)[0])
        return out

    def close(self) -> None:
        meteor = getattr(self, "meteor", None)
        if meteor is not None:
            del self.meteor


def groups_of(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, list[Any]]:
    """Item ids per group: ``overall``, ``level:<l>``, ``task:<t>``, ``<l>/<t>``."""
    groups: dict[str, list[Any]] = {"overall": []}
    for g, _ in pairs:
        for key in ("overall", f"level:{g['type']}", f"task:{g['task']}", f"{g['type']}/{g['task']}"):
            groups.setdefault(key, []).append(g["id"])
    return groups


def _rank(group: str) -> int:
    """overall, then levels, then tasks, then level/task pairs."""
    return 0 if group == "overall" else 1 if group.startswith("level:") else 2 if group.startswith("task:") else 3


def evaluate_captions(gt_rows: list[dict[str, Any]], pred_rows: list[dict[str, Any]],
                      gt_name: str = "ground truth", pred_name: str = "predictions") -> dict[str, Any]:
    """Every metric for every group, with warnings; see the module docstring.

    Args:
        gt_name, pred_name: what messages call the two sets of rows (their files).

    Raises:
        DataError: rows :func:`check_rows` refuses, or nothing to score.
    """
    check_rows(gt_rows, gt_name)
    check_rows(pred_rows, pred_name)
    m = match(gt_rows, pred_rows)
    if not m.pairs and m.mismatched:
        raise DataError(f"{len(m.mismatched)} prediction id(s) match ground-truth ids but are about another item "
                        f"(first: {m.differences[0]}); nothing to score")
    if not m.pairs:
        raise DataError("no prediction matches a ground-truth id; nothing to score")
    gts_raw = {g["id"]: _one_line(g["anwser"]) for g, _ in m.pairs}
    res_raw = {g["id"]: _one_line(p["anwser"]) for g, p in m.pairs}
    # tokenise references and predictions in one call each (one Java start per side)
    gts_tok, res_tok = tokenize(gts_raw), tokenize(res_raw)
    gts = {k: gts_tok[k] for k in gts_raw}
    res = {k: res_tok[k] for k in res_raw}
    empty = [k for k, v in res.items() if not v[0].strip()]
    if empty:
        warnings_pre = [f"{len(empty)} prediction(s) are empty (first: {empty[:5]}); they score 0"]
    else:
        warnings_pre = []
    scorers = Scorers()
    results: dict[str, Any] = {}
    warnings: list[str] = list(warnings_pre)
    try:
        for name, ids in sorted(groups_of(m.pairs).items(), key=lambda kv: (_rank(kv[0]), kv[0])):
            scores = scorers.score({i: gts[i] for i in ids}, {i: res[i] for i in ids})
            results[name] = {"n": len(ids), **scores}
            if len(ids) < MIN_CIDER_ITEMS:
                warnings.append(f"{name}: only {len(ids)} item(s); CIDEr (and BLEU) say little about so few")
    finally:
        scorers.close()
    if m.missing:
        warnings.append(f"{len(m.missing)} ground-truth id(s) have no prediction (first: {m.missing[:5]}); they are not scored")
    if m.extra:
        warnings.append(f"{len(m.extra)} predicted id(s) are not in the ground truth (first: {m.extra[:5]}); ignored")
    if m.mismatched:
        warnings.append(f"{len(m.mismatched)} id(s) name another video, level or task than the ground truth "
                        f"(first: {m.differences[0]}); not scored")
    return {"scored": len(m.pairs), "missing": len(m.missing), "extra": len(m.extra), "mismatched": len(m.mismatched),
            "paper_table": paper_table(results), "groups": results, "warnings": warnings}


def paper_table(groups: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per level, the columns of Holmes-VAU's table.

    Its "BLEU" is the sum of BLEU-1..4 (so it can exceed 1), which is why a plain BLEU-4 does not
    reproduce its figures; both are given.
    """
    out = {}
    for level in PAPER_LEVELS:
        g = groups.get(f"level:{level}")
        if g:
            out[level] = {"n": g["n"], "BLEU-4": g["BLEU-4"],
                          "BLEU-sum": sum(g[f"BLEU-{k}"] for k in range(1, 5)),
                          "CIDEr": g["CIDEr"], "METEOR": g["METEOR"], "ROUGE-L": g["ROUGE-L"]}
    return out


def format_caption_report(report: dict[str, Any]) -> str:
    """The report as a table."""
    head = f"{'group':<22}{'n':>6}" + "".join(f"{m:>9}" for m in METRICS)
    lines = [f"scored {report['scored']} item(s)", ""]
    if report.get("paper_table"):
        lines += ["per level, as Holmes-VAU reports (BLEU-sum = BLEU-1 + ... + BLEU-4, its 'BLEU'):",
                  f"{'level':<22}{'n':>6}" + "".join(f"{c:>10}" for c in PAPER_COLUMNS)]
        for level, r in report["paper_table"].items():
            lines.append(f"{level:<22}{r['n']:>6}" + "".join(f"{r[c]:>10.4f}" for c in PAPER_COLUMNS))
        lines.append("")
    lines.append(head)
    for name, r in report["groups"].items():
        lines.append(f"{name:<22}{r['n']:>6}" + "".join(f"{r[m]:>9.4f}" for m in METRICS))
    if report["warnings"]:
        lines += ["", *("warning: " + w for w in report["warnings"])]
    return "\n".join(lines)
