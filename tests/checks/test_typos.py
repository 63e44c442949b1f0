import numpy as np
import pyarrow as pa
import pytest

from finesift.checks import _lang, typos
from finesift.checks.features import add_features
from finesift.checks.typos import Typos
from finesift.engine.local import score_table
from tests.checks._helpers import records_table, run_check


@pytest.fixture(scope="module")
def french_rows():
    from tests.conftest import SHARED_DATA

    lines = (SHARED_DATA / "tatoeba-fra-eng.tsv").read_text(encoding="utf8").split("\n")
    rng = np.random.default_rng(1)
    picked = [lines[i].split("\t", 1) for i in sorted(rng.choice(len(lines) - 1, 500, replace=False))]
    return [("Translate to French: " + en, fr) for en, fr in picked]


def _table(rows):
    return records_table([p for p, _ in rows], [o for _, o in rows])


def _score(rows, params=None):
    scores, flags = run_check(Typos, _table(rows), params)
    return flags, scores


def _score_in_batches(check, tables):
    """fit each batch, merge, finalize once, score each batch: what any engine does."""
    check.bind(None)
    batches = [add_features(t, check.needs) for t in tables]
    state = check.finalize(check.merge([check.fit(b) for b in batches]))
    return pa.concat_tables([check.score(b, state) for b in batches])


def test_fires_on_misspelled_prompts_and_answers(french_rows):
    bad = [("how r u dong", "comment vous"),                                     # text-speak in the prompt
           ("Translate to French: I love languages", "j'aime languages et fromagge"),  # English word in French
           ("Translate to French: How are you?", "Comment ca va, mon amii ?"),  # ça
           ("Translate to French: I love surprises.", "J'adore les surpises et les cadaux."),
           ("Explain teh recieved wisdom about definately going.", "Bien sûr.")]
    flags, scores = _score(french_rows + bad)
    assert flags[-len(bad):].all(), scores.slice(len(french_rows)).to_pylist()
    assert scores["typos_prompt_count"][-1].as_py() == 3
    assert scores["typos_output_rate"][-4].as_py() == pytest.approx(0.5)  # aime and et ok, languages not


def test_fires_on_two_or_three_corrupted_words_that_hide_as_other_words(french_rows):
    # what people and OCR do to words: a swap, a dropped or a doubled letter; the corrupted word may be
    # a contraction, an elision, a sentence's first word, or another (rarer) real word
    answers = [("Translate to French: He is no longer a child.", "Ce n'est plsu un enfnat."),
               ("Translate to French: Is the cat here?", "Le chat est icii, n'tes-vous pas ?"),
               ("Translate to French: I like honey.", "J'ame le mieel."),
               ("Translate to French: Can you tell me?", "Peux-u me le dirre ?"),
               ("Translate to French: I got my leg injured.", "Je me sus blessé à la jabe.")]
    prompts = [("Translate to French: I woon't tlerate that.", "Je ne le tolérerai pas."),
               ("Translate to French: Tey may levae tomorrow.", "Ils pourraient partir demain."),
               ("Translate to French: I do't even reemmber it.", "Je ne m'en souviens même pas."),
               ("Translate to French: I am feelign sad abut it.", "J'en suis triste."),
               ("Translate to French: Hae you seeen Tom?", "As-tu vu Tom ?")]
    flags, _ = _score(french_rows + answers + prompts)
    assert flags[-10:].all(), [r for r, f in zip(answers + prompts, flags[-10:]) if not f]
    # the same sentences spelled right are quiet
    fixed = [("Translate to French: I won't tolerate that.", "Je ne le tolérerai pas."),
             ("Translate to French: I am feeling sad about it.", "Ce n'est plus un enfant."),
             ("Translate to French: Have you seen Tom?", "Peux-tu me le dire ?"),
             ("Translate to French: I like honey.", "J'aime le miel."),
             ("Translate to French: Do you go there often?", "Y allez-vous souvent ? N'y touche pas.")]
    assert not _score(french_rows + fixed)[0][-len(fixed):].any()


def test_one_misspelling_is_flagged_only_when_it_is_one_edit_from_a_common_word(french_rows):
    single = [("Translate to French: Can you help me?", "Pourrez-vous m'aidre ?"),     # aider
              ("Translate to French: It's late.", "Il est trpo tard.")]               # trop
    # a short or capitalized unknown word is as often a dictionary's gap, slang or a name
    gaps = [("Translate to French: I want to go to college.", "Je veux aller à la fac."),
            ("Translate to French: Hey, thanks for everything.", "Hé, merci pour tout."),
            ("Translate to French: Rome is in Italy.", "Rome est en Italie."),
            ("Translate to French: Yeah, you're right.", "Ouais, vous avez raison."),
            ("Translate to French: I hate that guy.", "Je déteste ce mec.")]
    flags, scores = _score(french_rows + single + gaps)
    assert flags[-7:].tolist() == [True, True, False, False, False, False, False], \
        scores.slice(len(french_rows)).to_pylist()
    assert scores["typos_output_sure"].to_pylist()[-7:-5] == [1, 1]
    # a sure misspelling in a long text is one in many: not flagged
    long = "Il est trpo tard pour partir maintenant, nous resterons ici avec nos amis jusqu'à demain matin."
    assert not _score(french_rows + [("Translate to French: It is late.", long)])[0][-1]


def test_quiet_on_real_sentences_names_numbers_urls_and_code(french_rows):
    clean = [("Translate to French: Tom met Mary in Paris in 1998.", "Tom a rencontré Mary à Paris en 1998."),
             ("Read the docs at https://example.com/xyzzy_qwe and call foo_bar().", "D'accord, je lis la doc."),
             ("Translate to French: I'll do it tomorrow, won't I?", "Je le ferai demain, n'est-ce pas ?"),
             ("Translate to French: Hello", None)]
    flags, scores = _score(french_rows + clean)
    assert flags.sum() <= 3, [r for r, f in zip(french_rows + clean, flags) if f]  # ~0.5% of real rows at most
    assert not flags[-len(clean):].any(), scores.slice(len(french_rows)).to_pylist()


def test_a_misspelling_shared_by_many_texts_is_the_datasets_vocabulary():
    rows = [(f"Say something {i}", f"Je pars demainn {i}.") for i in range(5)]  # one edit from "demain"
    assert not _score(rows)[0].any()
    assert _score(rows, {"vocabulary_min_texts": 10})[0].all()


def test_vocabulary_and_dominant_language_are_counted_over_the_whole_dataset_not_per_batch():
    french = [(f"Say something {i}", s) for i, s in enumerate(
        ["Je suis content de te voir.", "Il fait très beau aujourd'hui.", "Nous allons au marché demain.",
         "Elle lit un livre chaque semaine.", "Où est la gare, s'il vous plaît ?", "J'ai deux frères et une sœur.",
         "Le chat dort sur le canapé.", "Ils ont mangé toute la tarte."])]
    vocabulary = [(f"Say more {i}", f"Je pars demainn matin {i}.") for i in range(3)]  # one edit from "demain"
    short = [("Say thanks", "un grand mercii")]  # two words: the dataset's (French) dictionary decides
    english = [("Say hi", "I am very happy to see you today."), ("Say bye", "We will meet again next week.")]
    rows = french + vocabulary + english + short
    whole = score_table(Typos(), _table(rows))
    # three batches: each holds one text with "demainn", the short answer sits with English ones
    parts = [french + vocabulary[:1], vocabulary[1:2], vocabulary[2:] + english + short]
    tables, start = [], 0
    for part in parts:
        tables.append(records_table([p for p, _ in part], [o for _, o in part],
                                    rows=range(start, start + len(part))))
        start += len(part)
    split = _score_in_batches(Typos(), tables)
    assert split.equals(whole)
    counts = whole["typos_output_count"].to_pylist()
    assert counts[len(french):len(french) + 3] == [0, 0, 0]  # the dataset's vocabulary, not a typo
    assert counts[-1] == 1  # "mercii", checked in French
    alone = _score_in_batches(Typos(), tables[1:2])  # a batch on its own would count "demainn"
    assert alone["typos_output_count"].to_pylist() == [1]
    # on its own the last batch is English and the short answer is checked in English: "mercii" still
    # counts, "un" does not, being a word of the answer's detected language (French)
    assert _score_in_batches(Typos(), tables[2:])["typos_output_count"].to_pylist()[-1] == 1
    assert typos._is_near.cache_info().maxsize and typos._is_known.cache_info().currsize  # bounded, per word


@pytest.mark.parametrize("word, lang, known", [
    ("aime", "fr", True), ("j'aime", "fr", True), ("aujourd'hui", "fr", True), ("peut-être", "fr", True),
    ("trouvai", "fr", True), ("œil", "fr", True), ("languages", "fr", False), ("ca", "fr", False),
    ("don't", "en", True), ("tom'll", "en", True), ("teh", "en", False),
])
def test_dictionary_rules(word, lang, known):
    assert _lang.is_known_word(word, lang) is known


@pytest.mark.parametrize("word, lang, known", [
    # an apostrophe is a contraction or an elision, not any split of two words
    ("woon't", "en", False), ("do't", "en", False), ("we'er", "en", False), ("tom'll", "en", True),
    ("q'il", "fr", False), ("qu'il", "fr", True), ("n'est-ce", "fr", True),
    # French elides before a vowel or a mute h only, and a one-letter part is t, y or a word
    ("l'rat", "fr", False), ("n'tes", "fr", False), ("l'homme", "fr", True), ("j'y", "fr", True),
    ("peux-u", "fr", False), ("a-t-il", "fr", True), ("vas-y", "fr", True),
    # regular variants of listed words: British English, French plurals and the 1990 spelling
    ("organised", "en", True), ("colour", "en", True), ("connait", "fr", True), ("brulé", "fr", True),
])
def test_typos_word_rules(word, lang, known):
    assert typos._is_known(word, lang) is known
    if not known and "'" in word:  # each of these misspellings is one edit from a word
        assert typos._is_near(word, lang)


def test_cost_per_row_is_bounded_on_huge_words_and_huge_answers(monkeypatch):
    # a 200k-letter "word" once reached the edit-distance search (quadratic: 30k letters took 24 s,
    # 100k raised MemoryError), and every word of a multi-megabyte answer was looked up
    looked_up, searched = [], []
    real_known, real_near = _lang.is_known_word, _lang.near_known_word

    def known(word, lang, *a):
        looked_up.append(len(word))
        return False if len(word) > 1000 else real_known(word, lang, *a)

    def near(word, lang):
        searched.append(len(word))
        return False if len(word) > 1000 else real_near(word, lang)

    monkeypatch.setattr(_lang, "is_known_word", known)
    monkeypatch.setattr(_lang, "near_known_word", near)
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    huge_word = "".join(rng.choice(letters, 200_000))
    many = " ".join("".join(rng.choice(letters, 6)) for _ in range(60_000))  # ~420k characters
    rows = [("Translate to French: I am sick.", huge_word), ("Translate to French: I am sick.", many),
            ("Translate to French: I am sick.", "Je suis malade."), ("Translate to French: I love surprises.",
                                                                    "J'adore les surpises et les cadaux.")]
    flags, scores = _score(rows)
    assert max(looked_up) <= 50 and max(searched) <= 50
    # the long answer: only its first 20,000 characters (~2,900 of its 60,000 words) are checked, each
    # looked up at most three times (its language, the detected one, the parts of a word)
    assert len(looked_up) <= 9_000
    # the huge word is no word: not checked, not a typo; ordinary rows are judged as before
    assert scores["typos_output_count"].to_pylist()[0] == 0 and scores["typos_output_rate"][0].as_py() == 0
    assert flags.tolist()[2:] == [False, True]


def test_near_known_word_does_not_search_around_words_longer_than_any_dictionary_word(monkeypatch):
    real = _lang.spell_dictionary("en")
    probes = []

    class Counting(dict):
        def __contains__(self, key):
            probes.append(len(key))
            return key in real

    monkeypatch.setattr(_lang, "spell_dictionary", lambda lang: Counting())
    assert _lang.near_known_word("recieved", "en") and probes
    probes.clear()
    # each probe was a copy of the word (5,000 letters: ~300k probes of 5 kB; 100k letters: MemoryError)
    assert not _lang.near_known_word("a" * 5_000, "en")
    assert probes == []


def test_two_typos_in_a_sentence_count_even_at_its_start(french_rows):
    bad = [("Translate to French: You know, I had a lot of fun.", "Voous savez, je me suis bein amusé."),
           ("Translate to French: This question isn't easy.", "Cette questoin n'est pas simmple."),
           ("Translate to French: Why don't you take a break?", "Pourquoi ne faites-vous pas une pause ?")]
    prompts = [("Translate to French: Why dno't you tkae a break?", "Pourquoi ne faites-vous pas une pause ?")]
    flags, scores = _score(french_rows + bad + prompts)
    assert flags[-4:].tolist() == [True, True, False, True], scores.slice(len(french_rows)).to_pylist()


def test_quiet_on_word_play_quotes_from_the_prompt_and_words_of_the_answers_language(french_rows):
    english = [(f"Say something kind {i}.", s) for i, s in enumerate(
        ["I am very happy to see you today.", "We will meet again next week.", "The weather is nice today.",
         "She reads a book every week.", "They have two brothers and a sister."] * 4)]
    rows = [("Reverse the text.\n\nKrebs", "sberk"),
            ("Remove all the vowels from this sentence.\n\nThe quick brown fox", "Th qck brwn fx"),
            ("Create an anagram out of the words.\n\nconform", "fromc"),
            ("Given a sentence, find all the misspelled words\n\nI swimmed in the lake.", "Misspelled words: swimmed"),
            ("Evaluate this sentence for spelling mistakes\n\nHe finnished his meel.", "He finished his meal."),
            ('Rearrange the following English phrase into Spanish: "We need to practice more."',
             "Necesitamos practicar más.")]
    flags, scores = _score(english + rows)
    assert not flags[-len(rows):].any(), scores.slice(len(english)).to_pylist()


def test_quiet_on_foreign_phrases_code_name_lists_domains_repeated_terms_and_spanish():
    english = [(f"Say something kind {i}.", s) for i, s in enumerate(
        ["I am very happy to see you today.", "We will meet again next week.", "The weather is nice today.",
         "She reads a book every week.", "They have two brothers and a sister."] * 4)]
    rows = [('Translate "Ce sera chaud" into English.', "This will be hot."),
            ("Identify the language used in the given sentence.\n\nIl est incroyable.", "The sentence is French."),
            ('Translate the sentence "Ich bin müde" into English.', "I am tired."),
            ("Find the average number in a list.\n\n[4, 3, 6, 10, 8]",
             "def avg_list(nums):\n   total = 0\n   for n in nums:\n      total += n\n   return total / len(nums)"),
            ("Write a scraper.", "import requests\nimport lxml.html as lh\nimport pandas as pd\n# fetch the page"),
            ("Name five inspiring women.", "1. Malala Yousafzai\n2. Tarana Burke\n3. Jacinda Ardern\n4. Angela Merkel"),
            ("List common internet domains.", "Common top-level domains include .com, .net, .org, .gov, .edu."),
            ("Convert the time from 12 hr format to 24 hr format.\n\n4:35 PM", "16:35"),
            ('Translate "it is not raining" into Spanish', "No está lloviendo."),
            ('How do you say "good morning" in Spanish?', "Buenos días."),
            ("Translate to Spanish: I am a student.", "Soy un estudiante."),
            ("Rewrite a sentence using another dialect.\n\nI am not sure", "Ah ain't sure 'bout whit Ah should dae."),
            ("Rewrite in proper English.\n\nHe runs fasta den anybudy in da class.", "He runs faster than anyone.")]
    flags, scores = _score(english + rows)
    assert not flags[-len(rows):].any(), [r for r, f in zip(rows, flags[-len(rows):]) if f]
    # the code's identifiers and the Spanish words are not even counted
    assert scores["typos_output_count"].to_pylist()[-10] == 0
    assert scores["typos_output_count"].to_pylist()[-5:-2] == [0, 0, 0]
