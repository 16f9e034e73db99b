"""Reference runs for git-info tests.

`python sdk_reference.py CASES.json` prints, for each {"cwd", "env"} case, what the real
azure-ai-ml `get_git_properties()` returns when run there (cwd and environment set as a
job submission would have them). A case with "delete_cwd": true removes its (empty) cwd
after entering it: a folder deleted while you are in it. Only used when azure-ai-ml is
installed.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    from azure.ai.ml.operations._job_ops_helper import get_git_properties

    with open(sys.argv[1]) as fh:
        cases = json.load(fh)
    base = dict(os.environ)
    out = []
    for case in cases:
        os.environ.clear()
        os.environ.update(base)
        os.environ.update(case["env"])
        os.chdir(case["cwd"])
        if case.get("delete_cwd"):
            os.rmdir(case["cwd"])
        out.append(get_git_properties())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
