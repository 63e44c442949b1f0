import numpy as np
import pyarrow as pa
import pytest

from finesift.checks import _lang
from finesift.checks.features import add_features
from finesift.checks.wrong_language import WrongLanguage
from finesift.config import AuditConfig
from finesift.engine.local import run_checks
from tests.checks._helpers import records_table, run_check


@pytest.fixture(scope="module")
def french_rows():
    from tests.conftest import SHARED_DATA

    lines = (SHARED_DATA / "tatoeba-fra-eng.tsv").read_text(encoding="utf8").split("\n")
    rng = np.random.default_rng(0)
    picked = [lines[i].split("\t", 1) for i in sorted(rng.choice(len(lines) - 1, 400, replace=False))]
    return [("Translate to French: " + en, fr) for en, fr in picked]


def _table(rows):
    return records_table([p for p, _ in rows], [o for _, o in rows])


def _score(rows, config=None):
    scores, flags = run_check(WrongLanguage, _table(rows), config=config)
    return flags, scores


def test_fires_on_answers_in_another_language(french_rows):
    bad = [("translate french hello", "hello is bonjour"),
           ("Translate to French: I am very happy today.", "I am very happy today."),
           ("Translate to French: I will help you if possible.", "Io l'aiuterò se possibile."),
           ("Hello french", "Good morning to you, my dear friend."),  # no language asked: the dataset's is French
           ("Translate to Russian: Hello", "Hello")]  # one word, but the wrong script
    flags, scores = _score(french_rows + bad)
    assert flags[-len(bad):].all(), scores.slice(len(french_rows)).to_pylist()
    assert scores["wrong_language_detected"][-2].as_py() == "en"
    assert scores["wrong_language_expected"].to_pylist()[-len(bad):] == ["fr", "fr", "fr", "fr", "ru"]


def test_quiet_on_real_french_answers_and_short_answers(french_rows):
    short = [("Translate to French: Hello", "Bonjour"), ("hello french", "bonjour"), ("Say yes", "Oui."),
             ("Who?", "Tom."), ("How much?", "42"), ("Translate to Russian: Hello", "Привет"),
             ("Answer in German: are you tired?", "Ja, ich bin sehr müde und gehe jetzt schlafen."),
             ("Translate to French: Hello", None)]
    flags, scores = _score(french_rows + short)
    assert flags.sum() <= 1, [r for r, f in zip(french_rows + short, flags) if f]  # ~0.2% of real rows at most
    assert not flags[-len(short):].any()


def test_config_expected_language_overrides(french_rows):
    sentences = [(p, o) for p, o in french_rows if len(o.split()) >= 6][:50]  # enough evidence each
    flags, scores = _score(sentences, AuditConfig(expected_language="de"))
    assert set(scores["wrong_language_expected"].to_pylist()) == {"de"}
    assert flags.mean() > 0.8


@pytest.mark.parametrize("prompt, code", [
    ("Translate to French: I love languages", "fr"),
    ("translate french hello", "fr"),
    ("Translate from French to English: Bonjour", "en"),
    ("Traduis en anglais : bonjour", "en"),
    ("Réponds en français : quel âge as-tu ?", "fr"),
    ("Answer in German: what is this?", "de"),
    ("Übersetze ins Deutsche: Hello", "de"),
    ("English: Hello\nSpanish:", "es"),
    ("Write a poem about Paris, en français.", "fr"),
    ("What does hola mean in English?", None),
    ("how u", None),
    ("Polish this essay please", None),
])
def test_requested_language(prompt, code):
    assert _lang.requested_language(pa.array([prompt])).to_pylist() == [code]


def test_batch_identifier_matches_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ref = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ref.set_languages(list(_lang.LANGUAGES))
    texts = ["", "123", "Hello WORLD", "Привет, как дела?", "你好世界", "Je t'aime.", "Wo ist der Bahnhof?",
             "x" * 300, "Qui causa l'accident ?", "¿Dónde está la estación?"]
    ident = _lang.identifier()
    for text, row in zip(texts, ident.probs(texts)):
        expected = dict(ref.rank(text))
        assert set(expected) == set(ident.langs)
        assert all(abs(float(p) - expected[lang]) < 1e-4 for lang, p in zip(ident.langs, row)), text


def test_detection_memo_keeps_no_text_per_distinct_row():
    """The detection memo is keyed by 64-bit hashes: 200k distinct templated answers kept ~200 MB of
    strings alive for the whole audit when it was keyed by the texts."""
    import tracemalloc

    body = "Ce produit {i} est solide, léger et agréable à tenir, livré avec une garantie de deux ans. " * 4
    texts = pa.array([body.format(i=i) for i in range(3000)])
    _lang.clear_memo()
    _lang.detect(texts)  # the model loads outside the measurement
    more = pa.array([t + " fin" for t in texts.to_pylist()])
    tracemalloc.start()
    try:
        _lang.detect(more)
        retained = tracemalloc.get_traced_memory()[0]  # what the memo keeps of these 3000 texts
    finally:
        tracemalloc.stop()
    assert retained < 3000 * 200  # ~450 bytes of text per distinct row were kept before
    again = _lang.detect(texts)  # memoized texts come back with the same probabilities
    assert again.top()[0][0] == "fr"


def test_the_process_wide_memo_is_bounded_and_never_changes_results(monkeypatch):
    texts = pa.array(["Où est la gare ?", "Where is the station?", "Wo ist der Bahnhof?", "¿Dónde está?"])
    cold = _lang.detect(texts)
    monkeypatch.setattr(_lang, "MEMO_MAX_TEXTS", 3)
    _lang.clear_memo()
    for i in range(5):  # more distinct texts than the memo holds: it starts over instead of growing
        warm = _lang.detect(pa.array([f"Texte numéro {i} et {j}" for j in range(2)]))
        assert len(_lang._memo(_lang.LANGUAGES)) <= 3
    warm = _lang.detect(texts)
    assert np.array_equal(warm.probs[warm.index], cold.probs[cold.index])
    _lang.clear_memo()


def test_language_is_one_feature_every_language_check_reads():
    from finesift.checks.truncated_output import TruncatedOutput
    from finesift.checks.typos import Typos

    assert "lang_output" in WrongLanguage.needs and "lang_output" in Typos.needs
    assert "lang_output" in TruncatedOutput.needs and "lang_prompt" in Typos.needs
    table = add_features(_table([("Translate to French: Hello", "Bonjour tout le monde"), ("Hi", None)]),
                         ["lang_output", "lang_requested"])
    det = _lang.detection(table, "output")
    direct = _lang.detect(table["output"])
    assert np.array_equal(det.probs[det.index], direct.probs[direct.index])
    assert det.words.tolist() == direct.words.tolist() and det.top()[0][0] == "fr"
    assert table["lang_requested"].to_pylist() == ["fr", None]


def test_dominant_language_is_a_dataset_fact_whatever_the_batch_size(french_rows):
    rows = french_rows[:60] + [("Hello", "Good morning to you, my dear friend.")]
    table = _table(rows)
    config = AuditConfig(checks=["wrong_language"])
    whole = run_checks(table, [WrongLanguage()], config, batch_size=len(rows))
    small = run_checks(table, [WrongLanguage()], config, batch_size=7)  # no batch holds most of the French
    assert whole.facts["wrong_language"] == small.facts["wrong_language"] == {"dominant_answer_language": "fr"}
    assert whole.scores.equals(small.scores)
    assert small.scores["wrong_language_expected"][-1].as_py() == "fr"
    assert small.scores["wrong_language_score"][-1].as_py() >= 0.8


def test_state_is_language_counts_merged_across_batches(french_rows):
    check = WrongLanguage().bind(AuditConfig())
    batches = [add_features(_table(french_rows[i:i + 50]), WrongLanguage.needs) for i in (0, 50)]
    states = [check.fit(b) for b in batches]
    assert all(s["counts"].shape == (1, len(_lang.LANGUAGES)) for s in states)
    merged = check.merge(states)
    assert merged["counts"].sum(axis=0)[_lang.LANGUAGES.index("fr")] == sum(
        s["counts"][0, _lang.LANGUAGES.index("fr")] for s in states)
    assert check.facts(check.finalize(merged)) == {"dominant_answer_language": "fr"}
    forced = WrongLanguage().bind(AuditConfig(expected_language="de"))
    assert forced.facts(forced.finalize(merged)) == {}  # the expected language is given, not found


def test_fires_on_short_answers_mixing_the_prompts_language(french_rows):
    mixed = [("Translate to French: He was very nervous.", "Il était very nervous."),
             ("Translate to French: Take off your socks.", "Retire your socks."),
             ("Translate to French: I could tutor you.", "Je pourrais tutor you."),
             ("Translate to French: Look at him.", "Regarde at him.")]
    flags, scores = _score(french_rows + mixed)
    assert flags[-len(mixed):].all(), scores.slice(len(french_rows)).to_pylist()


def test_quiet_on_lists_of_foreign_dishes_answers_in_the_prompts_language_and_quotes():
    english = [(f"Tell me something {i}.", s) for i, s in enumerate(
        ["I am very happy to see you today.", "We will meet again next week.", "The weather is nice today.",
         "She reads a book every week.", "They have two brothers and a sister."] * 4)]
    rows = [("List 5 famous Italian dishes.", "1. Pizza Margherita\n2. pasta alla carbonara\n3. risotto alla "
             "milanese\n4. lasagna alla bolognese\n5. Caprese salad."),
            ("Combien de côtés a un triangle, dis-moi ?", "Un triangle a trois côtés."),
            ("Typing a sentence, generate an appropriate machine translation of the sentence\n\nI want a pizza",
             "Je veux commander une pizza"),
            ('Translate "la croissance verte" into English.', '"La croissance verte" translates to "Green Growth".'),
            ("Provide an example of the proper way one should greet someone in German.",
             "Hallo! Wie geht es Ihnen? (Hello! How are you?)")]
    flags, scores = _score(english + rows)
    assert not flags[-len(rows):].any(), scores.slice(len(english)).to_pylist()


def test_fires_on_three_and_four_word_answers_with_one_word_of_the_prompts_language(french_rows):
    # half a translation: one English word among three or four ("Look is Regarde"), often beside words
    # both languages have ("me", "mine", "on"), which say little either way
    mixed = [("Translate to French: You're touching me.", "Tu touching me."),
             ("Translate to French: The pleasure is mine.", "Le plaisir is mine."),
             ("Translate to French: That's the right attitude.", "C'est la right attitude."),
             ("Translate to French: We're paying.", "Nous sommes en paying.")]
    flags, scores = _score(french_rows + mixed)
    assert flags[-len(mixed):].all(), scores.slice(len(french_rows)).to_pylist()


def test_quiet_on_a_name_first_and_where_the_expected_languages_dictionary_is_incomplete(french_rows):
    rows = [("Translate to French: Tom likes to fish.", "Tom aime pêcher."),        # "Tom" is a name, not English
            ("Translate to French: Tom sipped his coffee.", "Tom sirotait son café."),
            # the bundled Spanish list lacks most plurals: "conchas marinas" would read as English
            ("Translate the sentence 'She sold sea shells by the sea shore' into Spanish.",
             "Ella vendía conchas marinas junto al mar.")]
    flags, scores = _score(french_rows + rows)
    assert not flags[-len(rows):].any(), scores.slice(len(french_rows)).to_pylist()
