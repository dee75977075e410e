"""Renders deploy/kubernetes/assistant.yml with its values (deploy/kubernetes/values.yml).

    python -m scripts.render_kubernetes [--values my-values.yml] > assistant.rendered.yml

A placeholder without a value is an error, never an empty string in a manifest.
"""
from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

KUBERNETES_DIR = PROJECT_ROOT / "deploy" / "kubernetes"
TEMPLATE = KUBERNETES_DIR / "assistant.yml"
DEFAULT_VALUES = KUBERNETES_DIR / "values.yml"


def render(values_path: Path = DEFAULT_VALUES, template_path: Path = TEMPLATE) -> str:
    values = yaml.safe_load(values_path.read_text(encoding="utf-8")) or {}
    try:
        return string.Template(template_path.read_text(encoding="utf-8")).substitute(
            {key: str(value) for key, value in values.items()})
    except KeyError as missing:
        raise SystemExit(f"{values_path}: no value for {missing}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=Path, default=DEFAULT_VALUES)
    arguments = parser.parse_args()
    sys.stdout.write(render(arguments.values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
