"""`make nlu-report`: cross-validated intent accuracy and per-topic F1.

Each FAQ topic (`faq/cost`, ...) counts as its own label, so the figures cover the intent
classifier and the ResponseSelector together, with the crisis and no-words guards in place.
A message that falls back (`nlu_fallback`) counts as wrong, except for an `out_of_scope`
example: both take the person to the same fallback ladder, so that is what they should get.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from bot.nlu.topic_second_opinion import full_label
from bot.settings import BOT_DIR, PROJECT_ROOT

TARGET_MACRO_F1 = 0.95
TARGET_TOPIC_F1 = 0.85
# Messages never trained on, to see whether the cross-validated figures carry over.
HOLDOUT_PATH = PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml"


def _label(parse: dict) -> str:
    intent = (parse.get("intent") or {}).get("name") or "none"
    if intent == "faq":
        key = (((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}).get(
            "intent_response_key"
        )
        return key or "faq"
    return intent


def _ranking(parse: dict) -> list[list]:
    """The classifier's own top intents and confidences, before any fallback, to tune with."""
    ranking = [[r.get("name"), round(float(r.get("confidence") or 0.0), 4)]
               for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    selector = (parse.get("response_selector") or {}).get("faq") or {}
    topics = [[t.get("intent_response_key"), round(float(t.get("confidence") or 0.0), 4)]
              for t in selector.get("ranking") or []]
    return [*ranking, ["faq_topics", topics]]


def _scored_label(gold: str, label: str) -> str:
    """The label to score: a fallback on an out-of-scope message is the right behaviour."""
    return gold if gold == "out_of_scope" and label == "nlu_fallback" else label


async def _predict(model_path: str, texts: list[str]) -> list[tuple[str, list[list]]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    results = []
    for text in texts:
        parse = await agent.parse_message(text)
        results.append((_label(parse), _ranking(parse)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "results" / "nlu-report.json"))
    parser.add_argument("--config", default=str(PROJECT_ROOT / "config.yml"),
                        help="pipeline to evaluate, for trying a change before making it")
    parser.add_argument("--holdout-only", action="store_true",
                        help="skip cross-validation; train once and score the held-out messages")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    from sklearn.model_selection import StratifiedKFold

    data = load_data(str(BOT_DIR / "data" / "nlu"))
    if args.holdout_only:
        holdout = _score_holdout(args.config, data)
        return 0 if holdout["macro_f1"] >= TARGET_MACRO_F1 else 1
    examples = [m for m in data.intent_examples]
    gold = [full_label(m) for m in examples]
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=42)
    predicted: list[str | None] = [None] * len(examples)
    rankings: list[list] = [[] for _ in examples]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        for fold, (train_index, test_index) in enumerate(folds.split(examples, gold), start=1):
            keep = {id(examples[i]) for i in train_index}
            train_data = data.filter_training_examples(lambda m, keep=keep: id(m) in keep)
            train_path = Path(workdir) / f"fold{fold}.yml"
            train_path.write_text(train_data.nlu_as_yaml(), encoding="utf-8")
            model = train_nlu(
                args.config, str(train_path), str(Path(workdir) / "models"),
                fixed_model_name=f"fold{fold}", domain=str(BOT_DIR / "domain"),
            )
            texts = [examples[i].get("text") for i in test_index]
            predictions = asyncio.run(_predict(model, texts))
            for i, (label, ranking) in zip(test_index, predictions, strict=True):
                rankings[i] = ranking
                predicted[i] = _scored_label(gold[i], label)
            print(f"fold {fold}/{args.folds} done ({time.monotonic() - started:.0f}s)", flush=True)

    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    accuracy = accuracy_score(gold, predicted)
    macro_f1 = float(sum(f1) / len(f1))
    print(f"\n{args.folds}-fold cross-validation over {len(examples)} examples, "
          f"{len(labels)} labels")
    print(f"{'label':28} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    for row in zip(labels, precision, recall, f1, support, strict=True):
        flag = "  <-- below target" if row[3] < TARGET_TOPIC_F1 else ""
        print(f"{row[0]:28} {row[1]:9.3f} {row[2]:7.3f} {row[3]:6.3f} {row[4]:4d}{flag}")
    worst = min(zip(f1, labels, strict=True))
    print(f"\nintent accuracy (topic-level): {accuracy:.3f}")
    print(f"macro-F1: {macro_f1:.3f} (target >= {TARGET_MACRO_F1})")
    print(f"lowest topic F1: {worst[0]:.3f} ({worst[1]}) (target >= {TARGET_TOPIC_F1})")
    confusions: dict[str, int] = {}
    for g, p in zip(gold, predicted, strict=True):
        if g != p:
            confusions[f"{g} -> {p}"] = confusions.get(f"{g} -> {p}", 0) + 1
    print("most frequent confusions:", ", ".join(
        f"{k} x{v}" for k, v in sorted(confusions.items(), key=lambda kv: -kv[1])[:8]) or "none")

    holdout = _score_holdout(args.config, data)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "folds": args.folds, "examples": len(examples), "accuracy": accuracy, "macro_f1": macro_f1,
        "holdout": holdout,
        "per_label": {label: {"precision": p, "recall": r, "f1": f, "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                                   strict=True)},
        # Training examples only (written by the team, no one's messages), so the text is kept
        # to make the confusions readable.
        "errors": [{"gold": g, "predicted": p, "text": m.get("text")}
                   for g, p, m in zip(gold, predicted, examples, strict=True) if g != p],
        # Every held-out prediction with the classifier's ranking, for tuning thresholds
        # without retraining.
        "predictions": [{"gold": g, "predicted": p, "ranking": r}
                        for g, p, r in zip(gold, predicted, rankings, strict=True)],
    }, indent=2), encoding="utf-8")
    print(f"details: {os.path.relpath(args.out)}")
    meets = macro_f1 >= TARGET_MACRO_F1 and worst[0] >= TARGET_TOPIC_F1
    print("targets met" if meets else "TARGETS NOT MET")
    return 0 if meets else 1


def _score_holdout(config: str, data) -> dict:
    """Train on all the training data once and score the messages it has never seen."""
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.metrics import accuracy_score, f1_score

    held_out = load_data(str(HOLDOUT_PATH)).intent_examples
    trained_texts = {m.get("text").strip().lower() for m in data.intent_examples}
    leaked = [m.get("text") for m in held_out if m.get("text").strip().lower() in trained_texts]
    if leaked:
        raise SystemExit(f"{len(leaked)} held-out messages are also training examples: {leaked}")
    with tempfile.TemporaryDirectory() as workdir:
        train_path = Path(workdir) / "all.yml"
        train_path.write_text(data.nlu_as_yaml(), encoding="utf-8")
        model = train_nlu(config, str(train_path), str(Path(workdir) / "models"),
                          fixed_model_name="all", domain=str(BOT_DIR / "domain"))
        results = asyncio.run(_predict(model, [m.get("text") for m in held_out]))
    gold = [full_label(m) for m in held_out]
    predicted = [_scored_label(g, label) for g, (label, _) in zip(gold, results, strict=True)]
    labels = sorted(set(gold))
    macro_f1 = float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))
    accuracy = float(accuracy_score(gold, predicted))
    print(f"\nheld-out messages ({os.path.relpath(HOLDOUT_PATH)}, never trained on): "
          f"{len(gold)} messages, accuracy {accuracy:.3f}, macro-F1 {macro_f1:.3f}")
    errors = [{"gold": g, "predicted": p, "text": m.get("text")}
              for g, p, m in zip(gold, predicted, held_out, strict=True) if g != p]
    for error in errors:
        print(f"  {error['gold']} -> {error['predicted']}: {error['text']}")
    return {"messages": len(gold), "accuracy": accuracy, "macro_f1": macro_f1, "errors": errors}


if __name__ == "__main__":
    sys.exit(main())
