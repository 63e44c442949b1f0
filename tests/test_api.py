"""The top-level API: ``finesift.audit/curate/train/compare`` stay callable whatever is imported."""

import subprocess
import sys


def test_curate_and_train_stay_callable_after_their_modules_are_imported(tmp_path):
    # a fresh interpreter: a plain function finesift.curate was rebound to the subpackage once
    # finesift.curate.pipeline was imported (by its own first call), so a second call failed
    code = ("import sys, finesift, finesift.curate.pipeline, finesift.train.runner\n"
            "import finesift.curate.pipeline as cp\n"
            "assert all(callable(getattr(finesift, n)) for n in ('audit', 'curate', 'train', 'compare'))\n"
            "from finesift.errors import FinesiftError\n"
            "for _ in range(2):\n"
            "    try:\n"
            "        finesift.curate(sys.argv[1] + '/missing.jsonl', sys.argv[1] + '/out')\n"
            "    except FinesiftError:\n"
            "        pass\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
