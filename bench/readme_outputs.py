"""Run the README's explain examples and keep what they write, to prove a speed change exact.

    python bench/readme_outputs.py run BEFORE/     # on the old commit
    python bench/readme_outputs.py run AFTER/      # on the new one
    python bench/readme_outputs.py compare BEFORE/ AFTER/

``run`` builds the folder a README reader has (``mymodel.py``, ``song.wav``, ``song/`` with its
true stems, ``cuts.txt``, ``tests/data/piece1_16k``), runs every README block that explains
something (the 30-second example in Python and on the command line, the pipeline file, the
checks in Python and on the command line, spleeter, the temporal blocks and the temporal
pipeline file, ``stemlime tag --json``), each in its own sub-folder, and collects every
``explanation.json`` and every printed output into ``DIR/outputs/``. ``compare`` says, file by
file, whether two runs are byte-identical (exit status 1 if any differs), and for JSON files
that differ, the largest difference of any number in them. Takes a few minutes (the checks
block runs musicnn's sanity check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
PIECE = ROOT / "tests" / "data" / "piece1_16k"


def _blocks():
    from readme import code_block_after  # tests/readme.py: the README's and the docs' code blocks

    return code_block_after


def doc(page: str) -> Path:
    """A documentation page under docs/ whose blocks the examples run (tests/readme.py's doc)."""
    from readme import doc as page_path

    return page_path(page)


def _reader_folder(folder: Path) -> None:
    code_block_after = _blocks()
    folder.mkdir(parents=True)
    (folder / "mymodel.py").write_text(code_block_after("## 30-second example", "python", nth=1))
    shutil.copytree(PIECE, folder / "song")
    shutil.copytree(PIECE, folder / "tests" / "data" / "piece1_16k")
    shutil.copy(PIECE / "mixture.wav", folder / "song.wav")
    (folder / "cuts.txt").write_text("# seconds from the excerpt start\n1.0\n2.5\n")


def _commands(block: str) -> list[list[str]]:
    import shlex

    lines = [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("stemlime ")]


def _stemlime(args: list[str], cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "stemlime", *args], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"stemlime {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def _python(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"README Python block failed:\n{result.stderr}")
    return result.stdout


def run(destination: Path) -> None:
    code_block_after = _blocks()
    destination = destination.resolve()
    if destination.exists():
        shutil.rmtree(destination)
    outputs = destination / "outputs"
    outputs.mkdir(parents=True)
    os.environ["STEMLIME_CACHE_DIR"] = str(destination / "stem-cache")  # an empty stem cache: stems computed here
    template = destination / "reader"
    _reader_folder(template)
    thirty = code_block_after("## 30-second example", "python")
    examples: list[tuple[str, list[tuple[str, object]]]] = [
        ("30s-python", [("python", thirty)]),
        ("30s-cli", [("cli", args) for args in _commands(code_block_after("## 30-second example", "bash"))]),
        (
            "pipeline-file",
            [("file", ("pipeline.toml", code_block_after("## Configuring pipelines", "toml", readme=doc("how-to/configuring.md"))))]
            + [
                ("cli", args)
                for args in _commands(code_block_after("## Configuring pipelines", "bash", readme=doc("how-to/configuring.md")))
            ],
        ),
        ("checks-python", [("python", thirty + "\n" + code_block_after("## Checks", "python", readme=doc("how-to/configuring.md")))]),
        ("checks-cli", [("cli", args) for args in _commands(code_block_after("## Checks", "bash", readme=doc("how-to/configuring.md")))]),
        ("spleeter", [("cli", args) for args in _commands(code_block_after("### spleeter", "bash", readme=doc("how-to/plugins.md")))]),
        ("temporal", [("cli", args) for args in _commands(code_block_after("### temporal", "bash", readme=doc("how-to/plugins.md")))]),
        (
            "temporal-file",
            [("file", ("pipeline.toml", code_block_after("### temporal", "toml", readme=doc("how-to/plugins.md"))))]
            + [("cli", args) for args in _commands(code_block_after("### temporal", "bash", nth=1, readme=doc("how-to/plugins.md")))],
        ),
        ("tag-json", [("cli", ["tag", "song.wav", "--tagger", "musicnn", "--json"])]),
    ]
    for name, steps in examples:
        folder = destination / "runs" / name
        shutil.copytree(template, folder)
        printed = []
        for index, (kind, what) in enumerate(steps):
            if kind == "file":
                (folder / what[0]).write_text(what[1])
                continue
            out = _python(what, folder) if kind == "python" else _stemlime(what, folder)
            printed.append(out)
            # each command's result folder is moved away before the next one reuses its name
            for result in sorted(folder.glob("**/explanation.json")):
                relative = result.parent.relative_to(folder)
                shutil.copy(result, outputs / f"{name}.{index}.{'_'.join(relative.parts)}.explanation.json")
                shutil.rmtree(result.parent)
        (outputs / f"{name}.stdout.txt").write_text("".join(printed).replace(str(folder), "<folder>"))
        print(f"{name}: done", flush=True)


def _numbers(value, path: str = ""):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}/{index}")


def compare(first: Path, second: Path) -> int:
    a, b = first / "outputs", second / "outputs"
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    differing = 0
    for name in names:
        if not (a / name).is_file() or not (b / name).is_file():
            print(f"only in one run: {name}")
            differing += 1
            continue
        if (a / name).read_bytes() == (b / name).read_bytes():
            print(f"identical: {name}")
            continue
        differing += 1
        detail = ""
        if name.endswith(".json"):
            left, right = dict(_numbers(json.loads((a / name).read_text()))), dict(_numbers(json.loads((b / name).read_text())))
            shared = set(left) & set(right)
            worst = max(shared, key=lambda key: abs(left[key] - right[key]), default=None)
            if worst is not None:
                detail = f" (largest numeric difference {abs(left[worst] - right[worst]):.3g} at {worst}"
                detail += f"; keys only in one: {len(set(left) ^ set(right))})"
        print(f"DIFFERENT: {name}{detail}")
    print(f"{len(names) - differing} of {len(names)} outputs byte-identical")
    return 1 if differing else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "run":
        run(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
