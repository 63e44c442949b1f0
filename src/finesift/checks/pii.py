"""``pii``: personal data or secrets in the prompt or the answer.

Kinds found (both fields scanned):

* ``email`` -- e-mail addresses (not example.com-style placeholder domains)
* ``phone`` -- phone numbers: international ``+33 6 12 34 56 78``, North American
  ``(415) 555-2671`` (fictional 555 exchanges excluded), French ``06 12 34 56 78``
* ``card`` -- payment card numbers: 13-19 digits with a known issuer prefix, Luhn-valid
* ``aws_key`` -- AWS access key ids (``AKIA...``/``ASIA...``)
* ``api_key`` -- provider tokens: ``sk-...``, ``sk_live_...``, ``ghp_...``, ``github_pat_...``,
  ``xox[bp]-...``, ``AIza...``, ``hf_...``, JSON Web Tokens
* ``private_key`` -- ``-----BEGIN ... PRIVATE KEY-----`` blocks
* ``secret`` -- assignments such as ``api_key = "..."``, ``password: ...`` with a long,
  non-placeholder value (8+ characters, letters and digits)

A cheap pyarrow regex gate selects candidate rows; only those are parsed in Python
(Luhn, placeholder filters), and in a candidate text only the finders whose own RE2 gate
matches run: a 1 MB base64 blob or minified script that happens to hold ``AIza`` is
scanned by the API-key finder alone, so the cost per byte stays near the gate's.

Scores:

* ``pii_hits`` (0..inf, higher is worse): number of findings.
* ``pii_kinds`` (list of strings): the kinds found, sorted, for explanation.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register

# RE2 gates per finder (pyarrow): a finder runs on a text only where its gate matches
_KIND_GATES = {
    "email": r"@",
    "number": r"\d[\d\s().-]{7,}\d",
    "token": r"AKIA|ASIA|sk-|sk_|rk_|pk_|gh[pousr]_|github_pat_|xox[abposr]-|AIza|hf_|eyJ|PRIVATE KEY",
    "secret": r"(?i:key|secret|token|password|passwd|pwd)[\"']?\s*[:=]",
}
# RE2 gate (pyarrow): anything that could start a finding
_GATE = (r"@|\d[\d\s().-]{7,}\d|AKIA|ASIA|sk-|sk_|rk_|gh[pousr]_|github_pat_|xox[abposr]-|AIza|hf_|eyJ|"
         r"PRIVATE KEY|(?i:key|secret|token|password|passwd|pwd)[\"']?\s*[:=]")

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_PLACEHOLDER_DOMAIN = re.compile(
    r"(?:^|\.)(?:example|examples|test|domain|yourdomain|yourcompany|company|email|sample|acme|foo|bar|"
    r"mydomain|website|site|host|invalid|localhost)\.[a-z]{2,}$|\.(?:test|example|invalid|local|localhost)$",
    re.I)
# an organization's role address ("offers@amazon.com", "support@..."): no person's data
_ROLE_ADDRESS = re.compile(r"(?i)(?:info|support|contact|sales|offers?|no-?reply|do-?not-?reply|help|helpdesk|admin|"
                           r"hello|team|press|media|service|customer-?service|feedback|billing|marketing|news|"
                           r"newsletter|webmaster|careers|jobs|hr|privacy|legal|abuse|postmaster)@")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}"  # +33 6 12 34 56 78
    r"|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}"                                  # (415) 555-2671
    r"|\b0[1-9](?:[\s.]?\d{2}){4}"                                           # 06 12 34 56 78
    r")(?![\w])")
_FICTIONAL = re.compile(r"(?:^|\D)555[\s.-]?\d{4}$")
# not the digits of a decimal ("50.26548245743669 cm")
# printed in groups of 3 or more digits ("4539 1488 0343 6467", "3782 822463 10005") or unbroken: a run of
# spaced single digits is a table or a sequence ("2 4 6 8 10 12 14 16"), not a card
_CARD = re.compile(r"(?<![\d.,-])\d{3,19}(?:[ -]\d{3,19}){0,5}(?![\d-]|[.,]\d)")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9])|35|3(?:0[0-5]|[68]))")
# North American toll-free numbers (1-800-273-8255): public lines of organizations, not personal data
_TOLL_FREE = re.compile(r"^1?8(?:00|33|44|55|66|77|88)")
# what a prompt asks to be made up ("Generate a hypothetical phone number", "an example of a valid credit
# card number", "a username and password"): the answer's value of that kind is synthetic
_MADE_UP = re.compile(r"(?i)\b(?:generat|creat|invent|make up|come up with|example|sample|hypothetical|fake|"
                      r"fictional|fictitious|random|dummy|new)\w*\b")
_KIND_WORDS = {"phone": re.compile(r"(?i)phone|telephone|mobile number|contact number"),
               "email": re.compile(r"(?i)e-?mail"),
               "card": re.compile(r"(?i)credit card|card number|debit card"),
               "secret": re.compile(r"(?i)password|passphrase|api key|token|secret")}
_TOKENS = {
    "aws_key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "api_key": re.compile(
        r"(?<![\w-])(?:sk-(?:proj-|ant-(?:api\d+-)?)?[A-Za-z0-9_-]{20,}|(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"
        r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,}"
        r"|AIza[0-9A-Za-z_-]{35}|hf_[A-Za-z0-9]{30,}"
        r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"),
    "private_key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
}
_SECRET = re.compile(
    r"(?i)\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|client[_-]?secret|access[_-]?token|auth[_-]?token|"
    r"bearer[_-]?token|token|password|passwd|pwd)[\"']?\s*[:=]\s*[\"']?([^\s\"'`,;)]{8,})")
_SECRET_PLACEHOLDER = re.compile(
    r"(?i)your|example|placeholder|changeme|here|xxxx|\*\*\*|\.\.\.|<|>|\{|\}|\$|%|\(|\[|env|getenv|"
    r"secret|password|token|process\.|os\.|none|null|true|false|redacted|dummy|sample|test")


class PiiParams(CheckParams):
    min_hits: int = decision(1)
    """Flag rows with at least this many findings."""


@register
class Pii(RowCheck):
    name = "pii"
    description = "Personal data or secrets: e-mails, phone numbers, card numbers, API keys, passwords."
    scores = {
        "pii_hits": Score(
            "number of personal-data or secret findings in prompt + answer (0..inf); higher is "
            "worse", 0, float("inf"), worse="higher"),
        "pii_kinds": Score("kinds found (email, phone, card, aws_key, api_key, private_key, secret)"),
    }
    default = True
    order = 120
    weight = 0.4
    threshold = Threshold("min_hits", "pii_hits", ">=")
    Params = PiiParams

    def score(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        hits = np.zeros(n, dtype=np.int32)
        kinds: list[list[str]] = [[] for _ in range(n)]
        fields = [pc.fill_null(batch[f], "") for f in ("prompt", "output")]
        gate = np.zeros(n, dtype=bool)
        for col in fields:
            gate |= pc.match_substring_regex(col, pattern=_GATE).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(gate)
        if len(rows):
            sub = [col.take(pa.array(rows)) for col in fields]
            gates = [{k: pc.match_substring_regex(c, pattern=g).to_numpy(zero_copy_only=False)
                      for k, g in _KIND_GATES.items()} for c in sub]
            texts = [c.to_pylist() for c in sub]
            for i, row in enumerate(rows):
                synthetic = made_up_kinds(texts[0][i])
                found = [f for j, (t, g) in enumerate(zip(texts, gates))
                         for f in _findings(t[i], {k: v[i] for k, v in g.items()})
                         if not (j == 1 and f in synthetic)]
                hits[row] = len(found)
                kinds[row] = sorted(set(found))
        return pa.table({"pii_hits": pa.array(hits), "pii_kinds": pa.array(kinds, pa.list_(pa.string()))})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["pii_hits"].to_numpy(zero_copy_only=False) >= self.params.min_hits


def _findings(text: str, gates: dict[str, bool] | None = None) -> list[str]:
    """One kind per finding in ``text``; ``gates``: which finders can find anything (default: all)."""
    found: list[str] = []
    on = (lambda k: True) if gates is None else gates.__getitem__
    for m in _EMAIL.finditer(text) if on("email") else ():
        if not _PLACEHOLDER_DOMAIN.search(m.group(1)) and not _ROLE_ADDRESS.match(m.group()):
            found.append("email")
    for m in _PHONE.finditer(text) if on("number") else ():
        digits = re.sub(r"\D", "", m.group())
        # a North American number with the fictional 555 exchange, however it is written ("2145558444")
        nanp_555 = (len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")) and digits[-7:-4] == "555"
        if (9 <= len(digits) <= 15 and not _FICTIONAL.search(m.group()) and not nanp_555 and len(set(digits)) > 2
                and not _dummy(digits) and not _TOLL_FREE.match(digits)):
            found.append("phone")
    for m in _CARD.finditer(text) if on("number") else ():
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and not _dummy(digits) and luhn(digits):
            found.append("card")
    for kind, rx in _TOKENS.items() if on("token") else ():
        found.extend(kind for m in rx.finditer(text) if len(set(m.group())) > 8)
    for m in _SECRET.finditer(text) if on("secret") else ():
        value = m.group(1)
        if (not _SECRET_PLACEHOLDER.search(value) and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)
                and not _TOKENS["api_key"].search(value) and not _TOKENS["aws_key"].search(value)):
            found.append("secret")
    return found


def _dummy(digits: str) -> bool:
    """Digits typed as a placeholder: a run of 9+ consecutive digits up or down ("123-456-7890",
    "098-765-4321"; 06 12 34 56 78 is a number people do have), a repeated block of at most 4
    ("4242 4242 4242 4242"), or one digit 3 times in 4."""
    up, down = "01234567890", "09876543210"
    if any(digits[i:i + 9] in up or digits[i:i + 9] in down for i in range(len(digits) - 8)):
        return True
    if any(digits == (digits[:k] * (len(digits) // k + 1))[:len(digits)] for k in range(1, 5)):
        return True
    return max(digits.count(d) for d in set(digits)) * 4 >= 3 * len(digits)


def made_up_kinds(prompt: str) -> set[str]:
    """Kinds of value the prompt asks to be made up (their findings in the answer are synthetic)."""
    head = prompt[:400]
    if not _MADE_UP.search(head):
        return set()
    return {kind for kind, rx in _KIND_WORDS.items() if rx.search(head)}


def luhn(digits: str) -> bool:
    """Luhn checksum (payment cards)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
