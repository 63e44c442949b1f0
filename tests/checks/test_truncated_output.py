import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.features import add_features
from finesift.checks.truncated_output import TruncatedOutput
from tests.checks._helpers import records_table, run_check

NORMAL = [
    ("Translate to French: The weather is nice today.", "Il fait beau aujourd'hui."),
    ("Translate to French: I have two brothers.", "J'ai deux frères."),
    ("Translate to French: Where is the station?", "Où est la gare ?"),
    ("Translate to French: She reads a book every week.", "Elle lit un livre chaque semaine."),
] * 10


def _score(rows):
    scores, flags = run_check(TruncatedOutput, records_table([p for p, _ in rows], [o for _, o in rows]))
    return flags, scores["truncated_output_score"].to_numpy()


def test_fires_on_cut_answers():
    cut = [
        ("Translate to French: My wisdom teeth are coming in.", "Mes dents ["),
        ("List the steps to make tea.", "Here are the steps:"),
        ("Translate to French: I went to the market with my mother.", "Je suis allé au marché avec ma"),
        ("Explain what a CPU does.", "A CPU executes the instructions of a compu"),
        ("Write some code.", "```python\nprint('hi')\n"),
        ("Describe the weather.", 'He said "it will rain and'),
    ]
    flags, scores = _score(NORMAL + cut)
    assert flags[-len(cut):].all(), scores[-len(cut):]
    assert not flags[:-len(cut)].any()


def test_quiet_on_lists_code_labels_and_unpunctuated_styles():
    rows = [
        ("Classify the sentiment.", "Positive"),
        ("Name three fruits.", "- apple\n- banana\n- cherry"),
        ("Write a function.", "def f(x):\n    return x * 2"),
        ("Give me a title.", "The Old Man and the Sea"),
        ("What is 2+2?", "4"),
        ("Translate to French: Hello!", "Salut !"),
        ("Give a URL.", "https://example.com/a_b"),
        ("Write a haiku.", "old pond\nfrog leaps in\nsound of water"),
    ]
    flags, scores = _score(NORMAL + rows)  # in a dataset whose answers end with punctuation
    assert not flags.any(), scores[-len(rows):]


def test_the_real_truncated_last_line_of_tatoeba(shared_data):
    lines = (shared_data / "tatoeba-fra-eng.tsv").read_text(encoding="utf8").split("\n")
    pairs = [line.split("\t", 1) for line in lines[-3000:] if "\t" in line]
    flags, _ = _score([("Translate to French: " + en, fr) for en, fr in pairs])
    assert pairs[-1][1].strip() == "Mes dents"
    assert flags[-1]
    assert flags[:-1].sum() <= 3  # ~0.1% of complete sentences at most


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["(", "[", "{", "«", "“"]))
def test_ending_on_an_opening_bracket_is_always_flagged(text, opener):
    flags, scores = _score(NORMAL + [("Say something.", text + opener)])
    assert flags[-1] and 0.95 - 1e-6 <= scores[-1] <= 1.0


def test_dataset_norms_come_from_every_batch_not_the_one_being_scored():
    # the last batch alone has no punctuation norm (one answer): "ends on a letter" is evidence only
    # because the whole dataset's answers end with punctuation
    rows = NORMAL + [("Translate to French: The children are playing in the garden.", "Les enfants jouent dans")]
    check = TruncatedOutput().bind(None)
    tables = [records_table([p for p, _ in part], [o for _, o in part], rows=range(start, start + len(part)))
              for part, start in ((rows[:-1], 0), (rows[-1:], len(rows) - 1))]
    batches = [add_features(t, check.needs) for t in tables]
    state = check.finalize(check.merge([check.fit(b) for b in batches]))
    split = pa.concat_tables([check.score(b, state) for b in batches])["truncated_output_score"].to_numpy()
    flags, whole = _score(rows)
    assert (split == whole).all() and flags[-1]
    alone = check.finalize(check.fit(batches[1]))
    assert check.score(batches[1], alone)["truncated_output_score"][0].as_py() < split[-1]


def test_quiet_on_one_line_code_sign_offs_forms_links_and_stranded_prepositions():
    # false flags read on Alpaca rows people kept: syntax, letters and forms end without a period on purpose
    rows = [
        ("Print hello in JavaScript.", 'console.log("Hello World!");'),
        ("Delete a record.", "DELETE from Customers \nWHERE CustomerID = 119;"),
        ("Add 5px to each margin.", "margin-left: 25px; margin-top: 35px;"),
        ("Create a table.", "CREATE TABLE Books ( \n  book_id INT, \n  title VARCHAR(255)\n);"),
        ("Solve for x.", "x = 5 - 2y"),
        ("Reply to the mail.", "Dear Joe,\n\nThank you for letting me know. Have a great time!\n\nBest,"),
        ("Create a registration form.", "Registration form: \n1. Name: \n2. Email Address: \n3. Submit:"),
        ("Cite a website.", "Introduction to Machine Learning. (n.d.). Retrieved from www.machinelearning.org"),
        ("List ways to be kind.", "1. Listen to them\n2. Offer to help someone with a task they are struggling with"),
    ]
    flags, scores = _score(NORMAL + rows)
    assert not flags.any(), scores[-len(rows):]


def test_a_short_answer_is_not_cut_where_short_answers_are_common():
    # mixed instruction data: many prompts of one length get long answers, some get a name or a label
    long = [(f"Describe topic number {i:03d} in detail.", "It is a long and careful description. " * 6)
            for i in range(60)]
    labels = [(f"Name a famous scientist {i:03d} today.", "Marie Curie") for i in range(5)]
    flags, _ = _score(long + labels + [("Name a famous computer scientist.", "Alan Turing")])
    assert not flags[-6:].any()
    # (the one short answer among translations of similar sentences is still found:
    # test_the_real_truncated_last_line_of_tatoeba)
