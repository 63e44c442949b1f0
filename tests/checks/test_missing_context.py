"""missing_context: links, media, attachments and texts the prompt needs but does not hold; look-alikes stay quiet."""

import time

import numpy as np
import pyarrow as pa
import pytest

from finesift.checks.missing_context import GUARDED, MissingContext
from finesift.engine.local import score_table

from ._helpers import records_table, run_check

ARTICLE = "https://www.npr.org/2019/07/08/739361030/what-you-need-to-know-about-the-climate-crisis"

#: (prompt, expected kind): phrasings from Alpaca, chats and support data
MISSING = [
    ("Summarize this article in two sentences.\n\n" + ARTICLE, "link_input"),
    ("Summarize the key points of the following article: " + ARTICLE, "link_input"),
    ("Can you summarize this blog post for me? https://blog.example.com/2023/why-rust", "link_input"),
    ("Given a website, review the homepage layout and comment on the user experience.\n\nhttps://www.apple.com/",
     "link_input"),
    ("Generate a list of recommendations to improve the given website.\n\nwww.example.com", "link_input"),
    ("Analyze two recent news articles.\n\nArticle 1: https://www.theverge.com/a/b\nArticle 2: https://cnet.com/c",
     "link_input"),
    ("Describe the following photo in at least 5 sentences.\n\n![alt text](https://upload.wikimedia.org/x.jpg)",
     "link_input"),
    ("Create a caption for the photo.\n\n![Image of Coffee Mug][1]\n\n[1]: https://i.imgur.com/V7kGjKN.jpg",
     "link_input"),
    ("Classify the following shape as concave or convex.\n\n<img src=\"https://i.ibb.co/shape.png\" alt=\"shape\">",
     "link_input"),
    ("Look at this car photo and describe it.\n\n<image: https://images.unsplash.com/photo-1514943473584>",
     "link_input"),
    ("Watch this video and list the main steps: https://www.youtube.com/watch?v=hFc_T9ic1fU", "link_input"),
    ("Read https://example.com/post and summarize it in one paragraph.", "link_read"),
    ("Explain the main argument of the essay at https://example.org/essay in simple terms.", "link_read"),
    ("Please see the attached file and fix the bug.", "attachment"),
    ("Transcribe the audio recording I uploaded.", "attachment"),
    ("Describe the image below.\n\n<image>", "placeholder"),
    ("Give me three adjectives to describe this photo.\n\n[photo]", "placeholder"),
    ("Identify and describe the historical context of the following photograph.\n\n<Insert photo here>",
     "placeholder"),
    ("Come up with a complimentary comment about the provided painting.\n\nPainting: (attached image)", "placeholder"),
    ("Summarize the article I just read.\n\n[Link to article]", "placeholder"),
    ("Given a photo, detect the objects in it.\n\nAttach the photo", "placeholder"),
    ("Describe the image below.", "media_absent"),
    ("What is shown in this screenshot?", "media_absent"),
    ("Write a brief description of this photo in fewer than 20 words.", "media_absent"),
    ("Identify the scientific name for the creature in the photo.", "media_absent"),
    ("What is the reaction shown in the following gif?", "media_absent"),
    ("Summarize the following article:", "text_absent"),
    ("Proofread the text below.", "text_absent"),
    ("Complete the following haiku poem", "text_absent"),
    ("Create a sentence that follows the following sentence structure.\n\nN/A", "text_absent"),
    ("Summarize the passage.", "text_absent"),
]

#: look-alikes: the link is a string the task works on, the content is there, or nothing is referred to
CLEAN = [
    "Construct an HTTP request that retrieves information from an API.\n\nExample endpoint: https://example.com/api/v1",
    "Generate the HTML code to create a link.\n\nhttps://www.example.com",
    "Cite a website in APA format.\n\nTitle: Introduction to Machine Learning\nWebsite: www.machinelearning.org",
    "This is a website URL. Identify the domain name.\n\nhttp://www.example.com/",
    "Make an API call to the given URL and print the output.\n\nhttps://data.cityofnewyork.us/resource/fhrw.json",
    "Create a program to collect data from a web page.\n\nURL of the web page: https://www.example.com",
    "Find all the hyperlinks in the input.\n\nCheck out https://www.google.com/ for more information.",
    "Classify this tweet as spam or not.\n\nCheck out https://bit.ly/x for more",
    "My website https://mysite.com loads slowly on phones. How can I make it faster?",
    "Transform the text into JSON.\n\nThe site \"website.com\" with tagline \"A Comprehensive Information Source\"",
    "Write a python program that extracts all emails from a text.\n\nThis is a text. sender@example.com",
    "Create a new contact entry.\n\nName: Emma Watson\nEmail: emma.watson@gmail.com",
    "Summarize this article.\n\n" + ARTICLE + "\n\n" + "The climate crisis is a global emergency caused by "
    "emissions of greenhouse gases that are raising the temperature of the Earth year after year.",
    "Generate a caption for the following image.\n\nA golden retriever catching a frisbee on a sunny beach.",
    "Brainstorm 5 adjectives to describe the following photograph\n\nPhoto of a colorful flower field",
    "Name the different parts of the following plant.\n\n[Figure: An apple tree.]",
    "Identify the type of this bird.\n\n[Picture of an eagle]",
    "Given a list of nouns, generate a sentence.\n\nList: [Chef, Kangaroo, Fridge, Table]",
    "Generate 3 letter usernames with the following format: [first letter] + [random letter] + [last letter].",
    "Edit the given HTML code so it can be used as a login form.\n\n<form>\n<label>Username</label>\n</form>",
    "Fix the grammar in the text below:\nMe and him goes to the store yesterday.",
    "What is this text about? Me and him goes to the store yesterday and buyed three apples.",
    "Solve this math equation 3x + 6 = 24",
    "Answer this question - How old is the universe?",
    "Answer the following question:What are the differences between a red and a gray kangaroo?",
    "Rewrite this sentence to make it sound more polite - \"Where is the closest store?\"",
    "Record the temperature for the following week.",
    "Generate a web page that displays a chart containing the population growth rate in different countries.",
    "Create a set of rules for a game that requires drawing musical instruments.",
    "Suggest five features for a photo editing application.",
    "Design a logo for a new coffee shop.",
    "Describe the painting \"The Great Wave off Kanagawa\" by Katsushika Hokusai.",
    "I love this song.",
    "This is a map.",
    "i paid $1200 for this article i wana receive a rebate",
    "Translate to French: Look at this photo.",
    "Translate to French: I attached the file.",
    "How do I resize an image in CSS?",
    "What does https mean?",
    "Write a function that reverses the given string.",
    None,
    "",
]


def _score(prompts, params=None):
    return run_check(MissingContext, records_table(prompts, ["ok"] * len(prompts)), params)


def test_fires_on_links_media_attachments_placeholders_and_absent_texts():
    prompts = [p for p, _ in MISSING]
    scores, flags = _score(prompts)
    assert flags.all(), [p for p, f in zip(prompts, flags) if not f]
    kinds = scores["missing_context_kind"].to_pylist()
    assert kinds == [k for _, k in MISSING], [(p, k) for (p, w), k in zip(MISSING, kinds) if k != w]
    assert all(0.5 <= s <= 1.0 for s in scores["missing_context_score"].to_pylist())


def test_quiet_on_look_alikes():
    _, flags = _score(CLEAN)
    assert not flags.any(), [p for p, f in zip(CLEAN, flags) if f]


def test_a_link_used_as_a_string_is_recorded_below_the_threshold():
    prompts = CLEAN[:6]
    scores, _ = _score(prompts)
    assert scores["missing_context_score"].to_pylist() == [GUARDED] * len(prompts)
    assert scores["missing_context_kind"].to_pylist() == ["link_input"] * len(prompts)
    _, unguarded = _score(prompts, {"string_guard": False})
    assert unguarded.all()


def test_the_threshold_keeps_the_stronger_kinds():
    prompts = [p for p, _ in MISSING]
    scores, _ = _score(prompts)
    kinds = scores["missing_context_kind"].to_pylist()
    strict = MissingContext({"threshold": 0.75}).decide(scores)
    assert {k for k, f in zip(kinds, strict) if f} == {"link_input", "link_read", "attachment"}
    assert not any(f for k, f in zip(kinds, strict) if k in ("placeholder", "media_absent", "text_absent"))


def test_pasted_content_counts_as_present():
    body = " ".join(["Its menu hides the prices and the contact page is four clicks away."] * 2)
    ask = "Suggest three improvements to the given website.\n\nwww.example.com"
    prompts = [ask, ask + "\n\n" + body]
    _, flags = _score(prompts)
    assert flags.tolist() == [True, False]
    _, flags = _score(prompts, {"min_content_words": 100})
    assert flags.tolist() == [True, True]


def test_scores_do_not_depend_on_the_batch_size():
    prompts = [p for p, _ in MISSING] + CLEAN
    table = records_table(prompts, ["ok"] * len(prompts))
    check = MissingContext()
    whole = score_table(check, table)
    assert check.decide(whole).tolist() == [True] * len(MISSING) + [False] * len(CLEAN)
    for size in (4, 17):
        assert score_table(MissingContext(), table, batch_size=size).equals(whole)


def test_only_the_start_of_a_huge_prompt_is_read():
    # a 1 MB prompt full of triggers costs what its first scan_chars cost
    unit = "Read https://example.com/a and describe [Image] this photo below. "
    huge = unit * (1_000_000 // len(unit))
    prefix = huge[:MissingContext().params.scan_chars]
    t0 = time.perf_counter()
    scores, _ = _score([huge, prefix])
    assert time.perf_counter() - t0 < 5
    assert scores["missing_context_score"][0] == scores["missing_context_score"][1]
    assert scores["missing_context_kind"][0] == scores["missing_context_kind"][1]


def test_empty_batch_and_nulls():
    scores, flags = _score([])
    assert scores.num_rows == 0 and flags.shape == (0,)
    scores, flags = _score([None, ""])
    assert not np.any(flags)
    assert scores["missing_context_kind"].null_count == 2


@pytest.mark.parametrize("text", ["Describe this photo.", "Outline the main points.\n\nhttps://time.com/5798772/x"])
def test_a_table_without_other_columns_scores(text):
    check = MissingContext()
    scores = score_table(check, pa.table({"prompt": pa.array([text], pa.string())}))
    assert check.decide(scores).tolist() == [True]
