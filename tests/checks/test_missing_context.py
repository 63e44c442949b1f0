import pyarrow as pa

from finesift.checks.missing_context import MissingContext
from finesift.engine.local import score_table


def _decide(prompts):
    check = MissingContext()
    table = pa.table({"prompt": pa.array(prompts, pa.string()), "output": ["ok"] * len(prompts)})
    scores = score_table(check, table)
    return check.decide(scores).tolist(), scores["missing_context_score"].to_pylist()


def test_fires_on_attachments_images_absent_texts_and_urls():
    prompts = [
        "Describe the attached image.",
        "See attachment for details and fix the bug.",
        "Summarize the PDF I uploaded.",
        "What is shown in this screenshot?",
        "Summarize the following article:",
        "Summarize the following article.",
        "What is this text about?",
        "Fix the grammar in the text below.",
        "Explain the code above.",
        "Summarize the passage.",
        "Read https://example.com/post and summarize it.",
        "Summarize the article at this link.",
    ]
    flags, scores = _decide(prompts)
    assert flags == [True] * len(prompts), [p for p, f in zip(prompts, flags) if not f]
    assert all(0.5 <= s <= 1.0 for s in scores)


def test_quiet_when_the_context_is_present_or_not_needed():
    body = "Me and him goes to the store yesterday and buyed three apple for our mother who were sick."
    prompts = [
        "Fix the grammar in the text below:\n" + body,
        "Summarize the following article:\n" + body,
        "What is this text about? " + body + " " + body,
        "Translate to French: I attached the file.",
        "Translate to French: Look at this photo.",
        "How do I resize an image in CSS?",
        "Write a function that reverses the given string.",
        "Write a poem about my dog.",
        "Write my cover letter for a job at Google.",
        "What does https mean?",
        "Explain the story of Cinderella.",
        "Translate to French: I love languages",
        None,
        "",
    ]
    flags, scores = _decide(prompts)
    assert flags == [False] * len(prompts), [p for p, f in zip(prompts, flags) if f]
