"""``arithmetic``: the answer states arithmetic that is wrong -- a calculator, not a model.

Two kinds of claim are checked exactly (``fractions.Fraction``; floats only for pi and
non-integer powers):

* **stated in the answer**: chains of equalities between numeric expressions ("2 + 3 = 6",
  "x = 12 / 4 = 3", "(4+8+15)/3 = 9", "3² = 9", "5! = 120", "$24 * 3 + 8 = $80"; each pair of
  neighbouring evaluable sides is one claim, so a side with a variable breaks the chain there),
  and the phrasings "15% of 80 is 14", "the sum of 4, 5 and 6 is 16", "the product / average of
  ... is ...", "7 plus / minus / times / divided by 3 is ...", "the square root of 16 is 4",
  "5 squared is 25", "2 to the power of 5 is 32";
* **asked by the prompt**: when the prompt is itself one calculation ("What is 17 * 23?",
  "Calculate 15% of 80", "Find the sum of 4, 5 and 6", "the area of a circle of radius 3", "the
  perimeter of a rectangle 4 by 5"), a short answer (at most ``max_answer_words``) must contain
  its value somewhere; otherwise the number nearest to it is the claim.

A claimed number is right when it equals the exact value rounded to the digits it shows ("1/3 =
0.33", "35/6 = 6"); "approximately", "about", "~" and "≈" allow ``approx_share`` of the value.
A claim the prompt already holds (a statement to verify or correct) is not the answer's own.
Numbers in fenced code, and texts about other number bases or modular arithmetic, are skipped.

Parsing is a small recursive-descent parser, never ``eval``: at most ``max_expr_chars`` per
expression, exponents up to ``MAX_EXPONENT``, factorials up to ``MAX_FACTORIAL``, values up to
``MAX_BITS`` bits (``2**99999999`` is refused at once, not computed). Only the first
``scan_chars`` characters of each field are read, and only rows whose text can hold a claim (a
vectorized regex over the batch) are parsed.

Scores: ``arithmetic_error`` (0..inf, higher is worse): relative error of the worst wrong claim,
``|claimed - exact| / |exact|`` (0 when every claim is right or there is none; a wrong claim about
0 counts as 1); ``arithmetic_claims``: claims checked. Flagged when the error is at least
``threshold``.

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks arithmetic --split all --name
alpaca_arithmetic``): rows people kept flagged 0.13% on the tune split (16 of 12,687) and 0.13% on the
check split (16 of 12,583); reading all 32, 31 are wrong arithmetic the partial cleaning missed ("8+4*9"
-> 72, "the average of 10, 12 and 15 is 12.67", "3 * 4 - 3 = 12"). The benchmark's "arithmetic" kind
(9 labelled rows) is caught 0 times: 7 of them are image / URL / audio answers, one is a unit
conversion ("25m" -> "25km"), one has right arithmetic in its answer. 62 of the 52k rows flagged in all.
Dolly 3k, GPTeacher Toolformer (answers that call a calculator tool are skipped), both Bitext sets and
Tatoeba: 0 flagged. Scoring speed: about 65,000 rows/s on Alpaca (2 shared CPU cores; only the ~1%
of rows whose text can hold a claim are parsed).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import (
    CheckParams,
    RowCheck,
    Score,
    Threshold,
    decision,
    matches,
    register,
    text_array,
)

MAX_EXPONENT = 400
MAX_FACTORIAL = 100
MAX_BITS = 4096


class ArithmeticParams(CheckParams):
    threshold: float = decision(0.01, gt=0.0)
    """Flag answers whose worst wrong claim is off by at least this share of the exact value (a claim within
    the rounding its digits show is right whatever this is)."""
    approx_share: float = 0.02
    """Share of the value an approximate claim ("about", "~", "≈") may be off by."""
    max_answer_words: int = 60
    """Longest answer (words) whose numbers are checked against a calculation the prompt asks for."""
    max_expr_chars: int = 200
    """Longest expression parsed; longer ones are skipped."""
    scan_chars: int = 4000
    """Characters of the answer and of the prompt read (bounded cost on long texts)."""


@register
class Arithmetic(RowCheck):
    name = "arithmetic"
    description = "The answer states wrong arithmetic (\"2 + 3 = 6\", \"15% of 80 is 14\") or a wrong result for the calculation asked."
    scores = {
        "arithmetic_error": Score("relative error of the worst wrong numeric claim (0 = none wrong); higher is worse",
                                  0, float("inf"), worse="higher"),
        "arithmetic_claims": Score("numeric claims checked (0..inf)", 0, float("inf")),
    }
    default = True
    order = 78
    weight = 0.8
    threshold = Threshold("threshold", "arithmetic_error", ">=")
    Params = ArithmeticParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: ArithmeticParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        output = pc.utf8_slice_codeunits(text_array(batch["output"]), 0, p.scan_chars)
        prompt = (pc.utf8_slice_codeunits(text_array(batch["prompt"]), 0, p.scan_chars)
                  if "prompt" in batch.column_names else pa.array([""] * n, pa.string()))
        error = np.zeros(n, dtype=np.float64)
        claims = np.zeros(n, dtype=np.int32)
        # only rows whose answer can hold a claim, or whose prompt can ask for a calculation, are parsed
        cand = matches(output, _CANDIDATE) | (matches(prompt, _CANDIDATE) & matches(output, r"\d"))
        rows = np.flatnonzero(cand)
        if len(rows):
            take = pa.array(rows)
            for i, q, a in zip(rows.tolist(), prompt.take(take).to_pylist(), output.take(take).to_pylist()):
                error[i], claims[i] = check_row(q or "", a or "", p)
        return pa.table({"arithmetic_error": pa.array(error, pa.float64()),
                         "arithmetic_claims": pa.array(claims, pa.int32())})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["arithmetic_error"].to_numpy(zero_copy_only=False) >= self.params.threshold


# --- the parser -------------------------------------------------------------------------------------

class NotArithmetic(ValueError):
    """The text is not a numeric expression this parser evaluates (a variable, a unit, too big)."""


#: a number: thousands separated by commas ("1,628.89"), decimals; a currency sign before it is ignored
NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_TOKEN = re.compile(rf"\s*(?:(?P<num>{NUM})|(?P<op>\*\*|[-+*/^()%!×÷·⋅−²³xX√])|(?P<pi>π|\bpi\b)|(?P<cur>[$€£]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip(" .")  # a sentence's full stop, or an ellipsis after a rounded value
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise NotArithmetic(text)
        pos = m.end()
        if m.group("cur"):
            continue
        kind = next(k for k in ("num", "op", "pi") if m.group(k) is not None)
        val = m.group(kind)
        if kind == "op" and val in "xX":
            # "x" multiplies only between numbers ("4 x 3", "4x3"): "3x - 3" and "2x" hold a variable
            rest = text[pos:].lstrip()
            if not out or out[-1][0] not in ("num", "close") or not rest or not (rest[0].isdigit() or rest[0] == "("):
                raise NotArithmetic(text)
            val = "*"
        kind = "close" if val == ")" else kind
        out.append((kind, {"×": "*", "·": "*", "⋅": "*", "÷": "/", "−": "-", "**": "^"}.get(val, val)))
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|implicit before '(') unary)*;
    unary := ('-'|'+') unary | power; power := postfix ('^' unary)?; postfix := atom ('%'|'!'|'²'|'³')*;
    atom := number | pi | '(' expr ')'. Values are Fractions, or floats once pi or a root is involved."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.t = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.t[self.i][1] if self.i < len(self.t) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.t):
            raise NotArithmetic("unexpected end")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def parse(self):
        if not self.t:
            raise NotArithmetic("empty")
        v = self.expr()
        if self.i != len(self.t):
            raise NotArithmetic("trailing tokens")
        return v

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            w = self.term()
            v = v + w if op == "+" else v - w
        return _bounded(v)

    def term(self):
        v = self.unary()
        while self.peek() in ("*", "/", "("):
            op = self.take()[1] if self.peek() != "(" else "*"
            w = self.unary()
            if op == "/":
                if w == 0:
                    raise NotArithmetic("division by zero")
                v = v / w
            else:
                v = v * w
            v = _bounded(v)
        return v

    def unary(self):
        if self.peek() == "√":
            self.take()
            return _pow(self.power(), Fraction(1, 2))
        if self.peek() in ("-", "+"):
            op = self.take()[1]
            v = self.unary()
            return -v if op == "-" else v
        return self.power()

    def power(self):
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            return _pow(base, self.unary())
        return base

    def postfix(self):
        v = self.atom()
        while self.peek() in ("%", "!", "²", "³"):
            op = self.take()[1]
            if op == "%":
                v = v / 100
            elif op == "!":
                if not (isinstance(v, Fraction) and v.denominator == 1 and 0 <= v <= MAX_FACTORIAL):
                    raise NotArithmetic("factorial")
                v = Fraction(math.factorial(int(v)))
            else:
                v = _pow(v, Fraction(2 if op == "²" else 3))
        return v

    def atom(self):
        kind, val = self.take()
        if kind == "num":
            v = Fraction(val.replace(",", ""))
            # implicit multiplication only before a parenthesis ("5(6-3)"): "5 6" is no expression
            return v
        if kind == "pi":
            return math.pi
        if val == "(":
            v = self.expr()
            if self.take()[1] != ")":
                raise NotArithmetic("unbalanced")
            return v
        raise NotArithmetic(val)


def _bounded(v):
    if isinstance(v, Fraction):
        if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
            raise NotArithmetic("too large")
    elif not math.isfinite(v):
        raise NotArithmetic("not finite")
    return v


def _pow(base, exp):
    # the exponent is checked before anything is computed: 2**99999999 is refused, not evaluated
    if abs(exp) > MAX_EXPONENT:
        raise NotArithmetic("exponent too large")
    if isinstance(base, Fraction) and isinstance(exp, Fraction) and exp.denominator == 1:
        if base == 0 and exp < 0:
            raise NotArithmetic("division by zero")
        if max(abs(base.numerator), abs(base.denominator)).bit_length() * abs(int(exp)) > MAX_BITS:
            raise NotArithmetic("too large")
        return base ** int(exp)
    try:
        v = float(base) ** float(exp)
    except (OverflowError, ZeroDivisionError) as exc:
        raise NotArithmetic("power") from exc
    if isinstance(v, complex):
        raise NotArithmetic("complex")
    return _bounded(v)


def evaluate(text: str, max_chars: int = 200):
    """The exact value of a numeric expression (Fraction, or float with pi or roots); NotArithmetic if it is not
    one this parser accepts."""
    if len(text) > max_chars:
        raise NotArithmetic("too long")
    return _Parser(_tokens(text)).parse()


def _number(text: str) -> tuple[Fraction, int] | None:
    """(value, decimals shown) of a plain number ("$1,628.89", "45%", "17/12"), else None."""
    m = re.fullmatch(rf"\s*[$€£]?\s*(-|−)?\s*[$€£]?({NUM})\s*(%)?[\s.]*", text)
    if not m:
        frac = re.fullmatch(r"\s*(-|−)?\s*(\d+)\s*/\s*(\d+)[\s.]*", text)
        if frac and int(frac.group(3)) != 0:
            v = Fraction(int(frac.group(2)), int(frac.group(3)))
            return (-v if frac.group(1) else v), 12
        return None
    digits = m.group(2).replace(",", "")
    v = Fraction(digits)
    if m.group(1):
        v = -v
    if m.group(3):
        v /= 100
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return v, decimals + (2 if m.group(3) else 0)


#: a prompt that asks for a calculation ("Rate it 1-10" or "aged 18-25" does not)
_ASK = re.compile(r"(?i)\b(?:calculate|compute|evaluate|solve|simplify|what is|what's|how much|find|determine|"
                  r"work out|perform|resolve|add|subtract|multiply|divide|result of)\b")
#: brackets around a run make it a matrix, list or set ("[2 -3; 5 6]"), not an expression
_GROUPING = set("[]{}|")
#: dates, phone numbers and codes: "6/20/2021", "123-456-7890", "2019-2020" are no calculations
_NOT_SUM = re.compile(r"\s*\d+(?:[-/.]\d+){2,}\s*|\s*\d{4}\s*[-–]\s*\d{2,4}\s*")
#: words before "a-b" that make it a range ("from 1-50", "aged 18-25")
_RANGE_WORD = re.compile(r"(?i)\b(?:from|between|of|aged?|ages|scale|range|ranging|pages?|years?|grades?)\s*$")
#: an expression with a binary operator (a lone "10%" or "5!" is a value, not a calculation asked for)
_BINARY = re.compile(r"\d\s*(?:[-+*/^×÷·⋅−xX]|\*\*)\s*[(.\d]|\)\s*(?:[-+*/^×÷·⋅−(]|\*\*)|\d\s*\(")


def _has_op(text: str) -> bool:
    return bool(re.search(r"\d\s*(?:[-+*/^×÷·⋅−xX]|\*\*)\s*[-(.\d]|[%!²³√]|\)\s*[-+*/^×÷(]|\d\s*\(", text))


def _off(exact, claimed: Fraction, decimals: int, approx: bool, approx_share: float) -> float:
    """Relative error of a claim beyond the rounding its digits show (0: right)."""
    tol = Fraction(1, 2 * 10 ** decimals) if decimals <= 12 else Fraction(0)
    exact_f = exact if isinstance(exact, float) else None
    diff = abs(float(exact) - float(claimed)) if exact_f is not None else abs(exact - claimed)
    if exact_f is not None:
        tol = float(tol) + 1e-9 * max(1.0, abs(exact_f))
    if approx:
        tol = max(float(tol), approx_share * abs(float(exact)))
    if diff <= tol:
        return 0.0
    return float(diff) / abs(float(exact)) if exact != 0 else 1.0


# --- finding claims ------------------------------------------------------------------------------------

#: a stretch of arithmetic: numbers, operators, brackets, spaces and "=" (no line breaks, no letters but "x")
_RUN = re.compile(r"[-+*/^()%!×÷·⋅−²³xX√$€£π0-9 \t.,=≈]+")
#: LaTeX operators, spelled as the parser reads them
_LATEX = {"\\times": "×", "\\cdot": "·", "\\div": "÷", "\\pi": "π"}
#: an answer that is code or calls a tool ("python('0.35 * 120')", "wolfram('square root of 49')"): its
#: numbers are arguments, not results
_CODE_LIKE = re.compile(r"\b(?:def |return |print\(|console\.log|function |System\.out|printf|cout\b|lambda |"
                        r"import )|\b[A-Za-z_]\w*\(\s*['\"]")
_APPROX_WORD = re.compile(r"(?i)(?:approximately|approx\.?|about|around|roughly|nearly|almost|~|≈|rounded)\s*$")
_CODE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
#: texts where arithmetic follows other rules
_OTHER_RULES = re.compile(r"(?i)\b(?:binary|hexadecimal|octal|base[- ]\d+|modul[oa]r?|mod \d|clock arithmetic|"
                          r"roman numerals?|boolean|bits?|sets?|permutations?|combinations?)\b")
_LIST = rf"(?:{NUM})(?:\s*,\s*(?:{NUM}))*,?\s+and\s+(?:{NUM})"
_IS = r"\s*(?:is|=|equals|would be|will be|comes to|gives(?: you)?|makes|results in)\s*(?P<approx>approximately |about |roughly |around |~|≈)?"
_VALUE = rf"[$€£]?(?P<value>-?(?:{NUM}))(?P<pct>\s*%)?"
#: verbal calculations: name -> (pattern of the operands, function of the matched groups)
VERBAL = {
    "percent_of": rf"(?P<a>{NUM})\s*(?:%|percent)\s+of\s+[$€£]?(?P<b>{NUM})",
    "sum": rf"(?i:sum|total) of\s+(?:the numbers\s+)?[$€£]?(?P<list>{_LIST})",
    "product": rf"(?i:product) of\s+(?:the numbers\s+)?(?P<list>{_LIST})",
    "mean": rf"(?i:average|mean) of\s+(?:the numbers\s+)?(?P<list>{_LIST})",
    "binary": rf"(?P<a>{NUM})\s+(?P<op>plus|minus|times|multiplied by|divided by)\s+(?P<b>{NUM})",
    "sqrt": rf"(?i:square root) of\s+(?P<a>{NUM})",
    "square": rf"(?P<a>{NUM})\s+(?P<op>squared|cubed)",
    "power": rf"(?P<a>{NUM})\s+(?:raised\s+)?to the (?:power of\s+|)(?P<b>{NUM})(?:th|st|nd|rd)?(?: power)?",
}
#: asked calculations that are not an expression: imperative forms, and a few formulas
ASKED = {
    "add": rf"(?i:add)\s+(?P<a>{NUM})\s+(?:and|to|plus)\s+(?P<b>{NUM})",
    "subtract": rf"(?i:subtract)\s+(?P<b>{NUM})\s+from\s+(?P<a>{NUM})",
    "multiply": rf"(?i:multiply)\s+(?P<a>{NUM})\s+(?:by|and|with|times)\s+(?P<b>{NUM})",
    "divide": rf"(?i:divide)\s+(?P<a>{NUM})\s+by\s+(?P<b>{NUM})",
    "circle_area": rf"(?i:area) of a circle (?:with|of|that has) (?:a )?radius(?: of)?\s+(?P<a>{NUM})",
    "circle_perimeter": rf"(?i:circumference|perimeter) of a circle (?:with|of|that has) (?:a )?radius(?: of)?\s+(?P<a>{NUM})",
    "square_area": rf"(?i:area) of a square (?:with|of|that has) (?:a )?side(?: length)?(?: of)?\s+(?P<a>{NUM})",
    "rectangle_area": rf"(?i:area) of a rectangle (?:with|of|that has)[^.?\d]{{0,30}}?(?P<a>{NUM})[^.?\d]{{1,30}}?(?P<b>{NUM})",
    "triangle_area": rf"(?i:area) of a triangle (?:with|of|that has) (?:a )?base(?: of)?\s+(?P<a>{NUM})[^.?\d]{{1,30}}?height(?: of)?\s+(?P<b>{NUM})",
}
#: a text that may hold a claim or a calculation (the vectorized filter; RE2 syntax)
_CANDIDATE = (r"(?i)\d\s*(?:[-+*/^×÷·⋅−xX]|\*\*|\\times|\\cdot|\\div)\s*[(]?\s*[$€£]?\d|\d\s*[%!²³]|\d\s*\(|√|square root|sum of|total of|"
              r"product of|average of|mean of|percent of|squared|cubed|power of|\badd \d|subtract \d|multiply \d|"
              r"divide \d|area of a|circumference of|perimeter of")


def _nums(text: str) -> list[Fraction]:
    return [Fraction(x.replace(",", "")) for x in re.findall(NUM, text)]


def _verbal_value(kind: str, m: re.Match):
    g = m.groupdict()
    if "list" in g and g["list"] is not None:
        vals = _nums(g["list"])
        if kind == "sum":
            return sum(vals, Fraction(0))
        if kind == "product":
            out = Fraction(1)
            for v in vals:
                out = _bounded(out * v)
            return out
        return sum(vals, Fraction(0)) / len(vals)
    a = Fraction(g["a"].replace(",", ""))
    b = Fraction(g["b"].replace(",", "")) if g.get("b") else None
    if kind == "percent_of":
        return a * b / 100
    if kind in ("binary", "add", "subtract", "multiply", "divide"):
        op = g.get("op") or kind
        if op in ("plus", "add"):
            return a + b
        if op in ("minus", "subtract"):
            return a - b
        if op in ("times", "multiplied by", "multiply"):
            return a * b
        if b == 0:
            raise NotArithmetic("division by zero")
        return a / b
    if kind == "sqrt":
        return _pow(a, Fraction(1, 2))
    if kind == "square":
        return a ** (2 if g["op"] == "squared" else 3)
    if kind == "power":
        return _pow(a, b)
    if kind == "circle_area":
        return math.pi * float(a) ** 2
    if kind == "circle_perimeter":
        return 2 * math.pi * float(a)
    if kind == "square_area":
        return a * a
    if kind == "rectangle_area":
        return a * b
    if kind == "triangle_area":
        return a * b / 2
    raise NotArithmetic(kind)


def _touching(text: str, run: re.Match) -> tuple[str, str]:
    """The characters just outside a run, its own spaces aside ("is 17 * 23?" touches neither "s" nor "?")."""
    start = run.start() + len(run.group()) - len(run.group().lstrip())
    end = run.end() - len(run.group()) + len(run.group().rstrip())
    return (text[start - 1] if start > 0 and start == run.start() else " ",
            text[end] if end < len(text) and end == run.end() else " ")


def _approx_before(text: str, pos: int) -> bool:
    return bool(_APPROX_WORD.search(text[max(0, pos - 20):pos]))


def stated_claims(answer: str, prompt: str, p: ArithmeticParams) -> list[float]:
    """Errors of the claims the answer states (0.0 for a right one)."""
    out: list[float] = []
    norm_prompt = re.sub(r"\s+", "", prompt)
    for run in _RUN.finditer(answer):
        text = run.group()
        if "=" not in text and "≈" not in text:
            continue
        # a letter touching the run means its outer side holds a variable or a unit ("abs(-4 +5)", "5x")
        before, after = _touching(answer, run)
        before = "a" if before in _GROUPING else before
        after = "a" if after in _GROUPING else after
        parts = re.split(r"[,;:]\s+|\.\s+|\s{2,}", text)
        for j, part in enumerate(parts):
            sides = re.split(r"(=|≈)", part)
            values, texts, seps = [], [], []
            for k in range(0, len(sides), 2):
                side = sides[k].strip()
                outer = (k == 0 and j == 0 and before.isalpha()) or \
                        (k == len(sides) - 1 and j == len(parts) - 1 and after.isalpha())
                try:
                    if outer or not side:
                        raise NotArithmetic(side)
                    values.append(evaluate(side.rstrip(",.;:"), p.max_expr_chars))
                except NotArithmetic:
                    values.append(None)
                texts.append(side)
                seps.append(sides[k - 1] if k else "")
            for k in range(1, len(values)):
                a, b = values[k - 1], values[k]
                if a is None or b is None or not (_has_op(texts[k - 1]) or _has_op(texts[k])):
                    continue
                if _NOT_SUM.fullmatch(texts[k - 1]) or _NOT_SUM.fullmatch(texts[k]):
                    continue
                if re.sub(r"\s+", "", f"{texts[k - 1]}={texts[k]}") in norm_prompt:
                    continue  # the prompt's own statement, quoted to be judged
                approx = seps[k] == "≈" or texts[k].startswith("~")
                num = _number(texts[k]) or _number(texts[k - 1])
                exact = a if _number(texts[k]) else b
                if num is None:
                    if _close(a, b, 0.005):
                        out.append(0.0)
                    else:
                        out.append(_rel(a, b))
                    continue
                out.append(_off(exact, num[0], num[1], approx, p.approx_share))
    for kind, pattern in VERBAL.items():
        for m in re.finditer(pattern + _IS + _VALUE, answer):
            try:
                exact = _verbal_value(kind, m)
            except (NotArithmetic, ZeroDivisionError):
                continue
            if re.sub(r"\s+", "", m.group()) in norm_prompt:
                continue
            num = _number(m.group("value") + (m.group("pct") or ""))
            if num is None:
                continue
            out.append(_off(exact, num[0], num[1], bool(m.group("approx")), p.approx_share))
    return out


def asked_value(prompt: str, p: ArithmeticParams):
    """The value of the one calculation the prompt asks for, or None (none, several, or not evaluable).

    The instruction (the prompt's first paragraph) must ask for a calculation; an expression counts when
    it is a paragraph of its own ("Calculate the result.\n\n8+4*9") or follows the asking verb in its
    sentence ("What is 17 * 23?"), so numbers quoted in other tasks are not taken for one."""
    if not _ASK.search(prompt.split("\n\n", 1)[0]):
        return None
    found = []
    for kind, pattern in {**VERBAL, **ASKED}.items():
        for m in re.finditer(pattern, prompt):
            try:
                found.append((m.start(), m.end(), _verbal_value(kind, m)))
            except (NotArithmetic, ZeroDivisionError):
                return None
    for run in _RUN.finditer(prompt):
        text = run.group().strip(" ,.")
        if "=" in text or not _BINARY.search(text) or any(s <= run.start() < e for s, e, _ in found):
            continue
        before, after = _touching(prompt, run)
        if before.isalpha() or after.isalpha() or before in _GROUPING or after in _GROUPING or _NOT_SUM.fullmatch(text):
            continue
        start = max(prompt.rfind(c, 0, run.start()) for c in ".?!\n:")
        lead = prompt[start + 1:run.start()]
        own_paragraph = lead.strip() == "" and prompt[run.end():].split("\n", 1)[0].strip(" .?!") == ""
        # "Calculate the following equation: 8 * (25 + 7)": the verb asks before the colon
        asked_before_colon = prompt[start:start + 1] == ":" and _ASK.search(prompt[:start][-80:])
        if not own_paragraph and not _ASK.search(lead) and not asked_before_colon:
            continue
        if _RANGE_WORD.search(lead[-12:]) and re.fullmatch(r"\d+\s*-\s*\d+", text):
            continue
        try:
            found.append((run.start(), run.end(), evaluate(text, p.max_expr_chars)))
        except NotArithmetic:
            continue
    # overlapping finds are one calculation read twice ("4 plus 5" and "4 + 5"); else more than one is ambiguous
    values = {round(float(v), 9) for _, _, v in found}
    return found[0][2] if len(values) == 1 else None


def check_row(prompt: str, answer: str, p: ArithmeticParams) -> tuple[float, int]:
    """(worst error, claims checked) of one row."""
    answer = _CODE.sub(" ", answer)
    prompt = _CODE.sub(" ", prompt)
    for tex, op in _LATEX.items():
        answer, prompt = answer.replace(tex, op), prompt.replace(tex, op)
    if _OTHER_RULES.search(prompt) or _OTHER_RULES.search(answer):
        return 0.0, 0
    errors = stated_claims(answer, prompt, p)
    asked = asked_value(prompt, p)
    if asked is not None and len(answer.split()) <= p.max_answer_words and not _CODE_LIKE.search(answer):
        best = None
        for m in re.finditer(rf"(?<![\w.])(-?)[$€£]?({NUM})(?:\s*/\s*(?:{NUM}))?(\s*%)?", answer):
            num = _number(m.group(0))
            if num is None:
                continue
            approx = _approx_before(answer, m.start())
            err = _off(asked, num[0], num[1], approx, p.approx_share)
            if m.group(3):  # "35%" answers both 0.35 and 35 (a percentage asked for)
                err = min(err, _off(asked, num[0] * 100, max(num[1] - 2, 0), approx, p.approx_share))
            best = err if best is None else min(best, err)
        if best is not None:
            errors.append(best)
    return (max(errors) if errors else 0.0), len(errors)


def _close(a, b, share: float) -> bool:
    return abs(float(a) - float(b)) <= share * max(abs(float(a)), abs(float(b)), 1e-12)


def _rel(a, b) -> float:
    return abs(float(a) - float(b)) / abs(float(b)) if float(b) != 0 else 1.0
