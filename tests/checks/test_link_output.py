"""link_output: answers that are links or embedded media; markup, code, citations and copied links stay quiet."""

import time

import numpy as np
import pytest

from finesift.checks.link_output import LinkOutput
from finesift.engine.local import score_table

from ._helpers import records_table, run_check

LINKS = [
    ("Design a logo for a sports equipment store.", "![Logo of a store](https://i.ibb.co/Zc54n2Q/logo.jpg)"),
    ("Compose a melody for the song \"Happy Birthday\".",
     '<audio src="https://www.freesound.org/data/previews/583/583760-lq.mp3">Happy Birthday melody</audio>'),
    ("Create a visualization that shows the weekly sales of your product",
     "The following visualization shows the weekly sales:\n\n![Weekly Sales](weekly_sales.png)"),
    ("Convert the following data into a pie chart.\n\nTech: 80%, Other: 20%", '<img src="pie-chart.png" width="500">'),
    ("Show me a video of a cat playing piano.", '<video controls><source src="cat.mp4"></video>'),
    ("Retrieve an article from the internet that describes the given event.\n\nIndia bans vaccine exports",
     "https://www.bbc.com/news/world-asia-india-56684150"),
    ("Find three online sources that discuss the effects of climate change on animals in the Arctic.",
     "1. https://woodwellclimate.org/arctic-wildlife/\n2. https://www.nationalgeographic.com/animals/arctic/\n"
     "3. https://wwf.panda.org/arcticwildlife/"),
    ("Find resources online that offer an introduction to coding.",
     "1. Codecademy - https://www.codecademy.com/\n2. FreeCodeCamp - https://www.freecodecamp.org/\n"
     "3. Khan Academy - www.khanacademy.org"),
]
CLEAN = [
    # the task is markup, code, a citation or the link itself
    ("Construct a valid HTML code to add a link.", '<a href="https://example.com">Link Text</a>'),
    ("Generate the HTML to show an image of a cat.", '<img src="cat.jpg" alt="A cat">'),
    ("Write the markdown for a README with a logo.", "# Project\n\n![logo](logo.png)"),
    ("Cite a website in APA format.\n\nTitle: Intro to ML\nWebsite: www.machinelearning.org",
     "Intro to ML. (n.d.). Retrieved from www.machinelearning.org"),
    ("What is the URL of the Python website?", "https://www.python.org"),
    ("Find a specific Wikipedia page.\n\nThe page should be about the life of Joan of Arc.",
     "https://en.wikipedia.org/wiki/Joan_of_Arc"),
    ("Write a query for the following search engine:\n\nSearch engine: Google\nTopic: AI", '"AI research" site:google.com'),
    # the link comes from the prompt
    ("Find all the hyperlinks in the input.\n\nCheck out https://www.google.com/ for more.", "https://www.google.com/"),
    ("Shorten this text.\n\nVisit https://a.example.org/page to learn more.", "https://a.example.org/page"),
    # links inside content
    ("Draft instructions to install Python 3.",
     "1. Download the installer from https://www.python.org/downloads/.\n2. Double-click it to launch the installer.\n"
     "3. Follow the on-screen instructions to finish."),
    ("Find a recipe for a vegan chocolate cake",
     "A vegan chocolate cake recipe can be found here: https://www.veganricha.com/cake/. It uses flour, cocoa, "
     "sugar, almond milk and vegan butter, and bakes for thirty minutes."),
    ("Create a personalized email signature.\n\nJohn Doe", "John Doe\nDirector of Marketing\nabc@somecompany.com\n"
     "www.somecompany.com"),
    ("Describe a sunset.", "The sky turned orange and pink as the sun sank below the hills."),
    ("Name a search engine.", ""),
]


def _table(pairs):
    return records_table([p for p, _ in pairs], [a for _, a in pairs])


def test_flags_links_and_embedded_media_instead_of_content():
    scores, flags = run_check(LinkOutput, _table(LINKS))
    assert flags.all(), [a for (_, a), f in zip(LINKS, flags) if not f]
    assert set(scores["link_output_kind"].to_pylist()) == {"media_embed", "link_only"}


def test_quiet_on_markup_code_citations_copied_links_and_content():
    scores, flags = run_check(LinkOutput, _table(CLEAN))
    assert not flags.any(), [a for (_, a), f in zip(CLEAN, flags) if f]
    # a task that works on markup is recorded below the threshold, not thrown away
    assert scores["link_output_score"].to_pylist()[1] == pytest.approx(0.3)


def test_guard_and_threshold_are_parameters():
    table = _table(CLEAN[:2])
    _, flags = run_check(LinkOutput, table, {"markup_guard": False})
    assert flags.all()
    scores, _ = run_check(LinkOutput, _table(LINKS))
    kept = LinkOutput({"threshold": 0.85}).decide(scores)
    assert (kept == (scores["link_output_kind"].to_numpy(zero_copy_only=False) == "media_embed")).all()


def test_batch_size_does_not_change_scores():
    table = _table(LINKS + CLEAN)
    whole = score_table(LinkOutput(), table)
    for size in (3, 7):
        assert score_table(LinkOutput(), table, batch_size=size).equals(whole)


def test_only_the_start_of_a_huge_answer_is_read():
    huge = "https://a.example.org/x " * 45_000  # 1 MB of links
    t0 = time.perf_counter()
    scores, flags = run_check(LinkOutput, records_table(["Find sources.", "Find sources."], [huge, huge[:3000]]))
    assert time.perf_counter() - t0 < 5
    assert flags.all()
    assert scores["link_output_score"][0] == scores["link_output_score"][1]


def test_empty_batch_and_nulls():
    scores, flags = run_check(LinkOutput, records_table([], []))
    assert scores.num_rows == 0 and flags.shape == (0,)
    scores, flags = run_check(LinkOutput, records_table(["q", None], [None, "https://x.org"]))
    assert flags.tolist() == [False, True]
    assert np.isnan(scores["link_output_score"].to_numpy()).sum() == 0
