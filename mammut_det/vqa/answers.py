"""The official VQA accuracy, as GT-Vision-Lab/VQA's evaluator computes it, quirks included.

Reference: ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` of GT-Vision-Lab/VQA after the 2021
commit "Fixed processing answers bug" (the evaluator of the VQAv2 challenge). Its rules, per
question with human answers ``A`` (10 in VQAv2) and a predicted answer ``p``:

1. Every answer and ``p`` have newlines and tabs turned into spaces and are stripped.
2. **Only when the humans disagree** (more than one distinct answer after step 1) are ``A`` and
   ``p`` normalised: punctuation (:func:`strip_punctuation`), then lower case, number words to
   digits, articles dropped, contractions restored (:func:`normalize_words`). When all humans gave
   the same string, ``p`` must equal it exactly: ``"yes."`` or ``"Yes"`` against ten ``"yes"``
   scores 0, ``"two"`` against ten ``"2"`` scores 0.
3. For each human answer ``a_i``: ``acc_i = min(1, #{j != i : a_j == p} / 3)``; the question
   scores the mean of the ``acc_i`` (the 10 leave-one-out subsets). If ``p`` matches ``m`` of 10
   answers this is 0.3, 0.6, 0.9 and 1.0 for ``m`` = 1, 2, 3, >= 4.
4. Overall, per answer type and per question type: ``round(100 * sum / count, 2)`` over the
   questions' means.

The official code leaves out each answer record that differs from ``a_i`` as a whole dict (answer,
confidence, id); VQAv2 numbers each question's answers 1-10, so that is leaving out position ``i``,
which is what is done here.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

#: characters removed (next to a space, or anywhere when the text has a digit-comma-digit) or
#: replaced by a space (elsewhere); apostrophes, colons and periods are not among them
PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
NUMBER_WORDS = {'none': '0', 'zero': '0', 'one': '1', 'two': '2', 'three': '3', 'four': '4',
                'five': '5', 'six': '6', 'seven': '7', 'eight': '8', 'nine': '9', 'ten': '10'}
ARTICLES = frozenset({'a', 'an', 'the'})
#: contracted forms restored from each spelling that misses exactly one of their apostrophes
#: ("dont" -> "don't", "couldnt've" and "couldn'tve" -> "couldn't've")
CONTRACTED = (
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've "
    "hasn't haven't he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll ma'am mightn't "
    "mightn't've might've mustn't must've needn't not've o'clock oughtn't 'ow's'at shan't she'd've "
    "should've shouldn't shouldn't've somebody'd've somebody'll somebody's someone'd "
    "someone'd've someone'll someone's something'd something'd've something'll that's there'd "
    "there'd've there're there's they'd they'd've they'll they're they've 'twas wasn't we'd've "
    "we've weren't what'll what're what's what've when's where'd where's where've who'd who'd've "
    "who'll who's who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll "
    "y'all'd've you'd you'd've you'll you're you've").split()


def _contractions() -> dict[str, str]:
    table = {}
    for word in CONTRACTED:
        marks = [i for i, c in enumerate(word) if c == "'"]
        for i in marks:
            table[word[:i] + word[i + 1:]] = word
    # the official table maps this one the other way round
    table["somebody'd"] = 'somebodyd'
    return table


CONTRACTIONS = _contractions()
_DIGIT_COMMA_DIGIT = re.compile(r'\d,\d')
#: a period not followed by a digit ("yes." -> "yes", "1.5" kept)
_PERIOD = re.compile(r'\.(?!\d)')
#: the official code passes ``re.UNICODE`` (32) where ``re.sub`` takes ``count``, so at most 32
#: periods are removed
MAX_PERIODS_REMOVED = 32


def clean_whitespace(text: str) -> str:
    """Newlines and tabs to spaces, then strip (applied to every answer)."""
    return text.replace('\n', ' ').replace('\t', ' ').strip()


def strip_punctuation(text: str) -> str:
    """The official punctuation rule: each mark of :data:`PUNCTUATION` is deleted when it stands
    next to a space somewhere in ``text``, or when ``text`` contains a digit, a comma and a digit
    ("1,000" -> "1000"); otherwise it becomes a space ("red,blue" -> "red blue"). Then periods not
    followed by a digit are deleted (at most :data:`MAX_PERIODS_REMOVED`)."""
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        delete = delete_all or f'{mark} ' in text or f' {mark}' in text
        out = out.replace(mark, '' if delete else ' ')
    return _PERIOD.sub('', out, count=MAX_PERIODS_REMOVED)


def normalize_words(text: str) -> str:
    """Lower case, split on whitespace, number words to digits, articles dropped, contractions
    restored, joined by single spaces."""
    words = (NUMBER_WORDS.get(w, w) for w in text.lower().split())
    return ' '.join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_answer(text: str) -> str:
    """The full normalisation (whitespace, punctuation, words), as applied to disagreeing answers;
    VideoQA applies it to every answer."""
    return normalize_words(strip_punctuation(clean_whitespace(text)))


def question_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The official accuracy in [0, 1] of ``prediction`` against one question's human
    ``answers`` (rules 1-3 of the module docstring)."""
    if not answers:
        raise ValueError('question_accuracy: no human answers')
    answers = [clean_whitespace(a) for a in answers]
    prediction = clean_whitespace(prediction)
    if len(set(answers)) > 1:
        answers = [normalize_words(strip_punctuation(a)) for a in answers]
        prediction = normalize_words(strip_punctuation(prediction))
    hits = [a == prediction for a in answers]
    total = sum(hits)
    per_subset = [min(1, (total - hit) / 3) for hit in hits]
    return sum(per_subset) / len(per_subset)


class ScoredQuestion(NamedTuple):
    """One question to score: its id, the predicted answer, the human answers and its types."""

    question_id: int
    prediction: str
    answers: Sequence[str]
    answer_type: str
    question_type: str


def vqa_scores(questions: Iterable[ScoredQuestion], ndigits: int = 2) -> dict:
    """Official accuracies (percent, rounded to ``ndigits`` as the evaluator does) over
    ``questions``: ``overall``, ``perAnswerType``, ``perQuestionType`` (the names of the
    evaluator's ``accuracy`` dict) and ``perQuestion`` (question id -> accuracy)."""
    overall: list[float] = []
    by_answer_type: dict[str, list[float]] = defaultdict(list)
    by_question_type: dict[str, list[float]] = defaultdict(list)
    per_question = {}
    for q in questions:
        acc = question_accuracy(q.prediction, q.answers)
        overall.append(acc)
        by_answer_type[q.answer_type].append(acc)
        by_question_type[q.question_type].append(acc)
        per_question[q.question_id] = round(100 * acc, ndigits)
    if not overall:
        raise ValueError('vqa_scores: no questions to score')

    def percent(values: list[float]) -> float:
        return round(100 * sum(values) / len(values), ndigits)

    return dict(overall=percent(overall),
                perAnswerType={k: percent(v) for k, v in by_answer_type.items()},
                perQuestionType={k: percent(v) for k, v in by_question_type.items()},
                perQuestion=per_question)
