"""MkDocs hook: the CLI reference page, generated from ``stemlime.cli.build_parser()`` at build time.

Every command (the core's and those plugins register through the ``stemlime_commands`` hook)
and every nested action gets a section with its usage and ``--help`` text, so the page can
never disagree with the parser.
"""

from __future__ import annotations

import argparse

from mkdocs.structure.files import File

PAGE = "reference/cli.md"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sections(parser: argparse.ArgumentParser, words: list[str], level: int) -> list[str]:
    parser.prog = " ".join(words)
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    out = [f"{'#' * level} `{' '.join(words)}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subparsers(parser).items():
        out += _sections(sub, [*words, name], min(level + 1, 4))
    return out


def cli_markdown() -> str:
    """The whole CLI reference as Markdown (also used by tests/test_docs.py)."""
    from stemlime.cli import build_parser

    parser = build_parser()
    lines = [
        "# Command-line reference",
        "",
        "Generated at build time from `stemlime.cli.build_parser()`, including the commands that "
        "installed plugins register. `stemlime COMMAND --help` prints the same text.",
        "",
    ]
    commands = _subparsers(parser)
    lines += ["| Command | What it does |", "|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                lines.append(f"| [`{choice.dest}`](#stemlime-{choice.dest}) | {choice.help or ''} |")
    lines.append("")
    for name, sub in commands.items():
        lines += _sections(sub, ["stemlime", name], 2)
    return "\n".join(lines) + "\n"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files
