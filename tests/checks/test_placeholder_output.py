import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.placeholder_output import PlaceholderOutput
from finesift.engine.local import score_table


def _scores(outputs):
    table = pa.table({"prompt": ["q"] * len(outputs), "output": pa.array(outputs, pa.string())})
    check = PlaceholderOutput()
    scores = score_table(check, table)
    return check, scores, scores["placeholder_output_score"].to_pylist()


PLACEHOLDERS = ["N/A", "n/a.", "<nooutput>", "TODO", "TBD", "...", "…", "[translation]", "[Insert answer here]",
                "Your answer here", "Lorem ipsum dolor sit amet.", "placeholder", '"N/A"', "To be completed."]


def test_fires_on_whole_answer_placeholders():
    check, scores, values = _scores(PLACEHOLDERS)
    assert values == [1.0] * len(PLACEHOLDERS)
    assert check.decide(scores).all()


def test_fires_on_embedded_fill_in_markers_below_whole_answer_score():
    check, scores, values = _scores(["Here is the code:\n[insert code here]\nDone.",
                                     "Hi <insert name here>, I can't come today."])
    assert all(abs(v - 0.6) < 1e-6 for v in values)
    assert check.decide(scores).all()
    assert not PlaceholderOutput({"threshold": 0.9}).decide(scores).any()


def test_quiet_on_real_answers_and_template_conventions():
    real = ["Bonjour", "Oui.", "None", "null", "0", "[A]", "Dear [Name], thank you for your letter.",
            "Your order {{Order Number}} has shipped.", "Insert the key into the lock.",
            "N/A means not applicable.", None, "",
            "The count is python('len(\"Lorem ipsum dolor sit amet\".split())')", "print(type(x))"]
    check, scores, values = _scores(real)
    assert values == [0.0] * len(real)
    assert not check.decide(scores).any()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PLACEHOLDERS), st.sampled_from(["", " ", "  \n", "\t"]))
def test_surrounding_whitespace_does_not_hide_a_placeholder(placeholder, pad):
    _, _, values = _scores([pad + placeholder + pad])
    assert values == [1.0]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_score_is_one_of_three_levels(text):
    _, _, values = _scores([text])
    assert values[0] in (0.0, 1.0) or abs(values[0] - 0.6) < 1e-6


def test_quiet_on_a_letters_personal_detail_slots_but_not_on_missing_content():
    check, scores, values = _scores(["Dear [Insert Name],\n\nI am writing to request a raise.\n\n[Insert your name]",
                                     "Dear Sir,\n\n[insert paragraph about the project here]\n\nBest"])
    assert values[0] == 0.0 and abs(values[1] - 0.6) < 1e-6


def test_fires_on_answers_that_open_with_no_output_and_a_reason():
    table = pa.table({"prompt": ["Create a design for a new t-shirt.", "Create a piece of art in the style of Van Gogh.",
                                 "Design a poster.", "Generate a cartoon drawing of a cat."],
                      "output": ["No output required",
                                 "No output because this instruction requires creating a visual output.",
                                 "<No output. The task requires a poster, not text.>",
                                 "No output as GPT models cannot create visual or audio output."]})
    check = PlaceholderOutput()
    scores = score_table(check, table)
    assert scores["placeholder_output_score"].to_pylist() == [1.0] * 4


def test_no_output_is_an_answer_about_a_program():
    table = pa.table({"prompt": ["What does this code print?\n\ndef f(): return None", "Describe the ocean."],
                      "output": ["No output, the function returns None.", "No outputs of rivers are this large."]})
    check = PlaceholderOutput()
    assert not check.decide(score_table(check, table)).any()
