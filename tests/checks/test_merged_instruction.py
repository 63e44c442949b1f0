"""merged_instruction: follow-on instructions glued after an answer; recipes, code output and requested templates are not."""

import time

import numpy as np
import pytest

from finesift.checks.merged_instruction import MergedInstruction
from finesift.engine.local import score_table

from ._helpers import records_table, run_check

MERGED = [
    ("Devise a strategy to increase customer engagement",
     "Offer rewards for repeat purchases and loyalty programs.\n##\n19. Instruction: Compare decision trees and "
     "random forests\n\n19. Input: \n\n\n19. Output: \nDecision trees use if-then rules; random forests average many."),
    ("Identify the main theme of Macbeth.",
     "The main theme is unchecked ambition.\n<!-- --> \n8. Instruction: Come up with a story that has a happy ending."
     "\n8. Input:\n\n8. Output:\nOnce upon a time, a brave knight found courage."),
    ("Describe the biggest galaxy.",
     "IC 1101 is about 6 million light-years across.\n111 \n11. Instruction: Write a poem about joy.\n11. Input:\n"
     "\n11. Output:\n\nJoy is in the smallest things"),
    ("What is the capital of France?",
     "Paris is the capital of France.\n\nInstruction: Name the capital of Spain.\nOutput: Madrid."),
    ("What is 2 + 2?", "The answer is 4.\n\n### Instruction:\nWhat is 3 + 3?\n\n### Response:\n6"),
    ("Give me a synonym for happy.", "Joyful.\n### Human: Now write a haiku about rain.\n### Assistant: Soft rain falls"),
    ("Translate 'hello' to French.", "Bonjour.<|im_end|>\n<|im_start|>user\nTranslate 'goodbye'<|im_end|>"),
    ("Summarize the plot of Hamlet.", "A prince avenges his father. [INST] Now summarize Othello. [/INST] A general..."),
    ("At what temperature does water boil?",
     "Water boils at 100 °C at sea level.\n\nHuman: What about at altitude?\n\nAssistant: At a lower temperature."),
    ("List two primary colors.", "Red and blue.\n\n**5. Instruction:** Name a planet.\n**5. Output:** Mars."),
]
CLEAN = [
    ("Create a recipe for scrambled eggs.",
     "Ingredients:\n- 2 eggs\n- butter\n\nInstructions:\n1. Beat the eggs.\n2. Cook them in butter."),
    ("Write a function that doubles a number.", "def f(x):\n    return x * 2\n\nprint(f(2))\n# Output: 4"),
    ("Write a Python program that prints hi.", "print('hi')\n\nOutput:\nhi"),
    ("Create a task that a GPT model can complete with a given input and output.",
     "Instruction: Given the following input, generate three adjectives.\nInput: Halloween\n\nOutput: Spooky, eerie."),
    ("Reverse engineer the sentence to create a task.", "Instruction: Fill the coffee mug until it is half full."),
    ("Generate a conversation about the weather.",
     "Here is a short exchange:\nUser: Is it raining?\nAssistant: Not today, it is sunny."),
    ("Write a chatbot script.", "User: Hi!\nBot: Hello, how can I help?\nUser: Book a table.\nBot: Done."),
    ("Write a story.", "The app showed a message.\nUser: admin\nPassword: hidden\nThe door opened."),
    ("Come up with a quiz question and the answer.", "Question: What is the capital of Iceland?\nAnswer: Reykjavik."),
    ("Explain how to follow directions.",
     "Follow the teacher's instruction: read the chapter, then write the output: a summary of it."),
    ("What does <|im_start|> mean in ChatML?", "<|im_start|> marks the start of a message in ChatML."),
    ("Write an Alpaca prompt template.",
     "Here is the template:\n### Instruction:\n{instruction}\n\n### Response:\n{response}"),
    ("Give three tips.", ""),
]


def _table(pairs):
    return records_table([p for p, _ in pairs], [a for _, a in pairs])


def test_flags_merged_follow_on_instructions():
    scores, flags = run_check(MergedInstruction, _table(MERGED))
    assert flags.all(), [a for (_, a), f in zip(MERGED, flags) if not f]
    assert set(scores["merged_instruction_kind"].to_pylist()) == {
        "numbered_template", "template_block", "prompt_template", "chat_markup", "role_turn"}


def test_recipes_code_output_quizzes_and_requested_templates_are_not_flagged():
    scores, flags = run_check(MergedInstruction, _table(CLEAN))
    assert not flags.any(), [a for (_, a), f in zip(CLEAN, flags) if f]
    # requested templates and dialogues are recorded below the threshold, not thrown away
    kinds = dict(zip([p for p, _ in CLEAN], scores["merged_instruction_score"].to_pylist()))
    assert kinds["Write an Alpaca prompt template."] == pytest.approx(0.3)
    assert kinds["Generate a conversation about the weather."] == pytest.approx(0.3)
    assert kinds["Create a recipe for scrambled eggs."] == 0.0


def test_the_prompt_guard_and_the_threshold_are_parameters():
    # a requested dialogue, a question about ChatML, a requested prompt template
    table = _table([CLEAN[5], CLEAN[10], CLEAN[11]])
    _, flags = run_check(MergedInstruction, table, {"prompt_guard": False})
    assert flags.all()
    scores, flags = run_check(MergedInstruction, table)
    assert not flags.any()
    assert MergedInstruction({"threshold": 0.2}).decide(scores).all()


def test_scores_do_not_depend_on_the_batch_size():
    table = _table(MERGED + CLEAN)
    whole = score_table(MergedInstruction(), table)
    small = score_table(MergedInstruction(), table, batch_size=3)
    assert whole.equals(small)


def test_bounded_cost_and_scan_window_on_a_megabyte_answer():
    filler = "All work and no play makes Jack a dull boy. " * 24000  # ~1 MB, no line break
    late = filler + "\n11. Instruction: Write a poem.\n11. Output: A poem."
    prompt = "Instruction: " + "x" * 1_000_000
    t0 = time.perf_counter()
    _, flags = run_check(MergedInstruction, records_table([prompt, "q"], [late, "A.\n" + late[-50:]]))
    assert time.perf_counter() - t0 < 5
    # a block past scan_chars is not read; one inside it is
    assert flags.tolist() == [False, True]


def test_empty_and_null():
    out, _ = run_check(MergedInstruction, records_table([], []))
    assert out.num_rows == 0
    _, flags = run_check(MergedInstruction, records_table(["q", None], [None, "ok"]))
    assert not np.any(flags)
