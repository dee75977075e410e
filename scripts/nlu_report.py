"""`make nlu-report`: cross-validated intent accuracy and per-topic F1, then two sets of
messages never trained on: the held-out paraphrases, and the long tail of admissions
questions, scored as answered, honestly deferred or misleading.

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
# Long-tail questions, each labelled with the topic that answers it or `defer`.
LONGTAIL_PATH = PROJECT_ROOT / "tests" / "data" / "nlu_longtail.yml"
TARGET_LONGTAIL_ANSWERED = 0.85
TARGET_LONGTAIL_MISLEADING = 0.05
DEFER = "defer"
# Replies that say "I can't answer that" and offer a person, rather than answering.
DEFERRING_LABELS = frozenset({"question_not_covered", "nlu_fallback", "out_of_scope",
                              "request_human"})
# Similarity thresholds shown beside the configured one, to see what the coverage check costs.
COVERAGE_SWEEP = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7)
# Floors for the per-topic bars, shown at the configured min_similarity.
COVERAGE_FLOOR_SWEEP = (0.4, 0.45, 0.5, 0.55)


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


# Replies that answer nothing and offer a person: each is right for a message no topic
# answers, whether it is off the subject (out_of_scope) or about the program but not covered
# (question_not_covered). A parent told "I can't help with that here; a counselor can" is
# not misled, whichever of the three replies it was.
NO_ANSWER_LABELS = frozenset({"nlu_fallback", "out_of_scope", "question_not_covered"})


def _scored_label(gold: str, label: str) -> str:
    """The label to score: for a message no topic answers, any of the no-answer replies is
    the right behaviour."""
    return gold if gold in NO_ANSWER_LABELS and label in NO_ANSWER_LABELS else label


async def _predict(model_path: str, texts: list[str]) -> list[tuple[str, list[list], dict]]:
    return [(_label(parse), _ranking(parse), parse) for parse in
            await _parse_all(model_path, texts)]


async def _parse_all(model_path: str, texts: list[str]) -> list[dict]:
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    return [await agent.parse_message(text) for text in texts]


def training_data():
    """The training examples as `rasa train` sees them: bot/data and the center's own
    questions (bot/facility_faq.yml, through the importer config.yml names)."""
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(PROJECT_ROOT / "config.yml"), str(BOT_DIR / "domain"), [str(BOT_DIR / "data")])
    return importer.get_nlu_data()


def _config_without_importers(config: str, workdir: str) -> str:
    """The pipeline alone: the folds' training files already hold the center's questions,
    and the importer would add them back into every fold's test messages."""
    import yaml

    pipeline = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    pipeline.pop("importers", None)
    path = Path(workdir) / "config.yml"
    path.write_text(yaml.safe_dump(pipeline), encoding="utf-8")
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "results" / "nlu-report.json"))
    parser.add_argument("--config", default=str(PROJECT_ROOT / "config.yml"),
                        help="pipeline to evaluate, for trying a change before making it")
    parser.add_argument("--holdout-only", action="store_true",
                        help="skip cross-validation; train once and score the messages never "
                             "trained on (held-out and long tail)")
    parser.add_argument("--model", help="score the messages never trained on with this "
                                        "trained model (models/assistant.tar.gz) instead of "
                                        "training one; for tuning thresholds")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    # Rasa's structured log prints every parsed text at debug; the report prints its own.
    configure_structlog(logging.WARNING)
    from rasa.model_training import train_nlu
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    from sklearn.model_selection import StratifiedKFold

    data = training_data()
    report: dict = {}
    if args.model:
        unseen = _score_unseen_with(args.model, data)
        _write(args.out, unseen)
        return 0 if unseen["meets"] else 1
    with tempfile.TemporaryDirectory() as workdir:
        config = _config_without_importers(args.config, workdir)
        if args.holdout_only:
            unseen = _score_unseen(config, data, workdir)
            report.update(unseen)
            _write(args.out, report)
            return 0 if unseen["meets"] else 1
        examples = [m for m in data.intent_examples]
        gold = [full_label(m) for m in examples]
        folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=42)
        predicted: list[str | None] = [None] * len(examples)
        # The label before the coverage check, and the check's numbers, per example: what the
        # check costs, and other thresholds replayed without retraining.
        ungated: list[str | None] = [None] * len(examples)
        coverage: list[dict | None] = [None] * len(examples)
        fold_of: list[int] = [0] * len(examples)
        rankings: list[list] = [[] for _ in examples]
        started = time.monotonic()
        for fold, (train_index, test_index) in enumerate(folds.split(examples, gold), start=1):
            keep = {id(examples[i]) for i in train_index}
            train_data = data.filter_training_examples(lambda m, keep=keep: id(m) in keep)
            train_path = Path(workdir) / f"fold{fold}.yml"
            train_path.write_text(train_data.nlu_as_yaml(), encoding="utf-8")
            model = train_nlu(
                config, str(train_path), str(Path(workdir) / "models"),
                fixed_model_name=f"fold{fold}", domain=str(BOT_DIR / "domain"),
            )
            texts = [examples[i].get("text") for i in test_index]
            predictions = asyncio.run(_predict(model, texts))
            for i, (label, ranking, parse) in zip(test_index, predictions, strict=True):
                rankings[i] = ranking
                predicted[i] = _scored_label(gold[i], label)
                ungated[i] = _scored_label(gold[i], _ungated_label(parse))
                coverage[i] = parse.get("answer_coverage")
                fold_of[i] = fold
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
        ungated_f1 = precision_recall_fscore_support(
            gold, ungated, labels=labels, zero_division=0)[2]
        print(f"macro-F1 without the coverage check: {sum(ungated_f1) / len(ungated_f1):.3f}")
        confusions: dict[str, int] = {}
        for g, p in zip(gold, predicted, strict=True):
            if g != p:
                confusions[f"{g} -> {p}"] = confusions.get(f"{g} -> {p}", 0) + 1
        print("most frequent confusions:", ", ".join(
            f"{k} x{v}" for k, v in sorted(confusions.items(), key=lambda kv: -kv[1])[:8])
            or "none")

        unseen = _score_unseen(config, data, workdir)
    report.update({
        "folds": args.folds, "examples": len(examples), "accuracy": accuracy, "macro_f1": macro_f1,
        **unseen,
        "per_label": {label: {"precision": p, "recall": r, "f1": f, "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                                   strict=True)},
        # Training examples only (written by the team, no one's messages), so the text is kept
        # to make the confusions readable.
        "errors": [{"gold": g, "predicted": p, "text": m.get("text")}
                   for g, p, m in zip(gold, predicted, examples, strict=True) if g != p],
        # Every cross-validated prediction with the classifier's ranking, for tuning
        # thresholds without retraining.
        "predictions": [{"gold": g, "predicted": p, "ungated": u, "coverage": c, "fold": f,
                         "ranking": r}
                        for g, p, u, c, f, r in zip(gold, predicted, ungated, coverage, fold_of,
                                                    rankings, strict=True)],
    })
    _write(args.out, report)
    meets = macro_f1 >= TARGET_MACRO_F1 and worst[0] >= TARGET_TOPIC_F1 and unseen["meets"]
    print("targets met" if meets else "TARGETS NOT MET")
    return 0 if meets else 1


def _write(out: str, report: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"details: {os.path.relpath(out)}")


def _score_unseen(config: str, data, workdir: str) -> dict:
    """Train on all the training data once; score the held-out and the long-tail messages."""
    from rasa.model_training import train_nlu

    train_path = Path(workdir) / "all.yml"
    train_path.write_text(data.nlu_as_yaml(), encoding="utf-8")
    model = train_nlu(config, str(train_path), str(Path(workdir) / "models"),
                      fixed_model_name="all", domain=str(BOT_DIR / "domain"))
    return _score_unseen_with(model, data)


def _score_unseen_with(model: str, data) -> dict:
    held_out = _held_out_examples(data)
    longtail = load_longtail()
    parses = asyncio.run(_parse_all(model, [m.get("text") for m in held_out]
                                    + [text for text, _ in longtail]))
    holdout = _score_holdout(held_out, parses[:len(held_out)])
    tail = _score_longtail(longtail, parses[len(held_out):])
    _print_coverage_sweep(held_out, parses[:len(held_out)], longtail, parses[len(held_out):])
    meets = holdout["macro_f1"] >= TARGET_MACRO_F1 and tail["meets"]
    return {"holdout": holdout, "longtail": tail, "meets": meets}


def _held_out_examples(data) -> list:
    from rasa.shared.nlu.training_data.loading import load_data

    held_out = load_data(str(HOLDOUT_PATH)).intent_examples
    trained_texts = {m.get("text").strip().lower() for m in data.intent_examples}
    leaked = [m.get("text") for m in held_out if m.get("text").strip().lower() in trained_texts]
    if leaked:
        raise SystemExit(f"{len(leaked)} held-out messages are also training examples: {leaked}")
    return held_out


def _score_holdout(held_out: list, parses: list[dict]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    gold = [full_label(m) for m in held_out]
    predicted = [_scored_label(g, _label(parse)) for g, parse in zip(gold, parses, strict=True)]
    labels = sorted(set(gold))
    macro_f1 = float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))
    accuracy = float(accuracy_score(gold, predicted))
    print(f"\nheld-out messages ({os.path.relpath(HOLDOUT_PATH)}, never trained on): "
          f"{len(gold)} messages, accuracy {accuracy:.3f}, macro-F1 {macro_f1:.3f} "
          f"(target >= {TARGET_MACRO_F1})")
    errors = [{"gold": g, "predicted": p, "text": m.get("text")}
              for g, p, m in zip(gold, predicted, held_out, strict=True) if g != p]
    for error in errors:
        print(f"  {error['gold']} -> {error['predicted']}: {error['text']}")
    return {"messages": len(gold), "accuracy": accuracy, "macro_f1": macro_f1, "errors": errors}


def load_longtail() -> list[tuple[str, str]]:
    """(question, answer) pairs: `answer` is a topic key or `defer`."""
    import yaml

    raw = yaml.safe_load(LONGTAIL_PATH.read_text(encoding="utf-8"))
    return [(text, group["answer"]) for group in raw["questions"] for text in group["texts"]]


def reply_for(label: str, text: str, topics, profile) -> str:
    """The reply the person would get for a message the pipeline labelled `label`: the same
    choice bot/actions/faq.py makes, the named-plan answer included."""
    from bot.faq_answers import INSURANCE_TOPIC, NOT_COVERED_RESPONSE, answer_for
    from bot.faq_topics import topic_key

    key = topic_key(label)
    if key is None:
        return NOT_COVERED_RESPONSE if label == "question_not_covered" else label
    insurer, accepted = None, frozenset()
    if key == INSURANCE_TOPIC:
        from bot.prescreen.extraction import canonical_carriers, carrier_in

        insurer, accepted = carrier_in(text), canonical_carriers(profile.accepted_insurers)
    return answer_for(key, topics, profile, insurer=insurer,
                      accepted_insurers=accepted).response


def longtail_outcome(answer: str, label: str, reply: str) -> str:
    """answered, deferred, misleading or other, for a question whose right answer is topic
    `answer` (or `defer`), labelled `label` by the pipeline and given `reply`."""
    from bot.faq_answers import (
        INSURER_LISTED_RESPONSE,
        INSURER_NOT_LISTED_RESPONSE,
        NO_DETAIL_RESPONSE,
    )
    from bot.faq_topics import topic_key

    if reply == NO_DETAIL_RESPONSE or label in DEFERRING_LABELS:
        return "deferred"
    key = topic_key(label)
    if key is None:
        # Another kind of reply (a greeting, the pre-screen, ...): no answer, no wrong fact.
        return "other"
    if key == answer and reply in (f"utter_faq/{key}", INSURER_LISTED_RESPONSE,
                                   INSURER_NOT_LISTED_RESPONSE):
        return "answered"
    return "misleading"


def _score_longtail(longtail: list[tuple[str, str]], parses: list[dict]) -> dict:
    from bot.facility import load_profile
    from bot.faq_topics import load_topics
    from bot.settings import load_settings

    topics, profile = load_topics(), load_profile(load_settings().facility_profile_path)
    rows = []
    for (text, answer), parse in zip(longtail, parses, strict=True):
        label = _label(parse)
        reply = reply_for(label, text, topics, profile)
        rows.append({"answer": answer, "predicted": label, "reply": reply,
                     "outcome": longtail_outcome(answer, label, reply), "text": text,
                     "similarity": (parse.get("answer_coverage") or {}).get("similarity")})
    answerable = [r for r in rows if r["answer"] != DEFER]
    count = {kind: sum(r["outcome"] == kind for r in rows)
             for kind in ("answered", "deferred", "misleading", "other")}
    answered_rate = (sum(r["outcome"] == "answered" for r in answerable) / len(answerable)
                     if answerable else 1.0)
    misleading_rate = count["misleading"] / len(rows)
    right_defers = sum(r["outcome"] == "deferred" for r in rows if r["answer"] == DEFER)
    print(f"\nlong-tail questions ({os.path.relpath(LONGTAIL_PATH)}, never trained on): "
          f"{len(rows)}, of which the profile answers {len(answerable)}")
    print(f"  answered (right topic):   {answered_rate:6.1%} of the {len(answerable)} it can "
          f"answer (target >= {TARGET_LONGTAIL_ANSWERED:.0%})")
    print(f"  honestly deferred:        {count['deferred'] / len(rows):6.1%} of all "
          f"({right_defers} of the {len(rows) - len(answerable)} it cannot answer)")
    print(f"  misleading (wrong topic): {misleading_rate:6.1%} of all "
          f"(target <= {TARGET_LONGTAIL_MISLEADING:.0%})")
    if count["other"]:
        print(f"  other replies (no answer, no wrong fact): {count['other']}")
    for row in rows:
        if row["outcome"] in ("misleading", "other") or (
                row["answer"] != DEFER and row["outcome"] != "answered"):
            print(f"  {row['outcome']:10} {row['answer']} -> {row['predicted']} "
                  f"({row['reply']}): {row['text']}")
    meets = (answered_rate >= TARGET_LONGTAIL_ANSWERED
             and misleading_rate <= TARGET_LONGTAIL_MISLEADING)
    return {"questions": len(rows), "answerable": len(answerable), "answered": answered_rate,
            "deferred": count["deferred"] / len(rows), "misleading": misleading_rate,
            "other": count["other"], "meets": meets, "rows": rows}


def _ungated_label(parse: dict) -> str:
    """The label before the coverage check: the topic it judged, if it turned it away."""
    label = _label(parse)
    if label == "question_not_covered":
        return (parse.get("answer_coverage") or {}).get("topic") or label
    return label


def _coverage_config(config_path: str) -> dict:
    """AnswerCoverage's settings as config.yml gives them, over the component's defaults."""
    import yaml

    from bot.nlu.answer_coverage import AnswerCoverage

    pipeline = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))["pipeline"]
    given = next((step for step in pipeline if step["name"].endswith("AnswerCoverage")), {})
    return {**AnswerCoverage.get_default_config(),
            **{k: v for k, v in given.items() if k != "name"}}


def _print_coverage_sweep(held_out, holdout_parses, longtail, longtail_parses) -> None:
    """What other thresholds would give, replayed from the same parses: each min_similarity
    with one bar for every topic and with the per-topic bars, then other floors under the
    per-topic bars. The quantile itself cannot be replayed: the bars it gives are computed
    from the training examples when the model is trained."""
    from bot.facility import load_profile
    from bot.faq_topics import load_topics
    from bot.nlu.answer_coverage import is_covered
    from bot.settings import load_settings

    topics, profile = load_topics(), load_profile(load_settings().facility_profile_path)
    configured = _coverage_config(str(PROJECT_ROOT / "config.yml"))
    quantile = configured.get("spread_quantile") or 0.0
    print(f"\ncoverage check replayed (configured: min_similarity {configured['min_similarity']}, "
          f"sure_above {configured['sure_above']}, spread_quantile {quantile}, "
          f"similarity_floor {configured.get('similarity_floor')}):")
    print(f"{'min_similarity':>14} {'topic bars':>22} {'held-out acc':>12} {'answered':>9} "
          f"{'misleading':>10}")
    settings = [({"min_similarity": threshold, "spread_quantile": 0.0}, "one bar")
                for threshold in sorted({*COVERAGE_SWEEP, configured["min_similarity"]})]
    if quantile:
        configured_bars = f"per topic, floor {configured['similarity_floor']}"
        settings += [({"min_similarity": threshold}, configured_bars)
                     for threshold in sorted({*COVERAGE_SWEEP, configured["min_similarity"]})
                     if threshold > 0]
        settings += [({"similarity_floor": floor}, f"per topic, floor {floor}")
                     for floor in COVERAGE_FLOOR_SWEEP if floor != configured["similarity_floor"]]
    gold = [full_label(m) for m in held_out]
    for changes, bars in settings:
        config = {**configured, **changes}

        def gated(parse, config=config):
            evidence = parse.get("answer_coverage")
            if evidence and config["min_similarity"] > 0 and not is_covered(evidence, config):
                return "question_not_covered"
            return _ungated_label(parse)
        right = sum(_scored_label(g, gated(p)) == g
                    for g, p in zip(gold, holdout_parses, strict=True))
        outcomes = [longtail_outcome(answer, gated(p), reply_for(gated(p), text, topics, profile))
                    for (text, answer), p in zip(longtail, longtail_parses, strict=True)]
        answerable = [o for o, (_, a) in zip(outcomes, longtail, strict=True) if a != DEFER]
        print(f"{config['min_similarity']:14.2f} {bars:>22} {right / len(gold):12.3f} "
              f"{answerable.count('answered') / len(answerable):9.1%} "
              f"{outcomes.count('misleading') / len(outcomes):10.1%}")


if __name__ == "__main__":
    sys.exit(main())
