#!/usr/bin/env bash
# Run HERE (a machine that reaches PyPI), in the repository root, before a device run: the GPU
# machines have Python 3.12 with PyTorch, numpy, pandas, scipy, httpx, pyyaml, tqdm and nvidia-ml-py,
# but not the Store's and the optimizer's packages, and fetch nothing. Writes them to .whl/ (git-ignored
# by .git/info/exclude), which the device run installs with --no-index.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
rm -rf .whl && mkdir .whl
# the versions this project's environment resolved (run it inside the venv of `pip install -e .`),
# so that pydantic and pydantic-core match and pulp stays below 4
for name in sqlalchemy greenlet alembic mako markupsafe pydantic pydantic-core annotated-types typing-inspection \
            typing-extensions platformdirs pulp; do
  version=$(python3 -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$name")
  spec="$name==$version"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
ls .whl
du -sh .whl
