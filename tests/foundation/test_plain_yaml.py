"""User YAML that contains itself or explodes through aliases is refused with its line, fast."""

from __future__ import annotations

import pytest
import yaml

from stratoflow.plain_yaml import UnsafeYAML, load_plain_yaml


def laughs(levels: int) -> str:
    """A 'billion laughs' document: each level nine aliases of the one before (9**levels)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [*x]",
        "variables: &v {O3: *v}",
        "O3:\n  tests: &t\n    - test: gross_range\n      more: *t\n",
        "base: &b\n  <<: *b\n",
    ],
)
def test_a_structure_containing_itself_is_refused_with_its_line(text: str) -> None:
    with pytest.raises(UnsafeYAML, match=r"contains itself.*\n.*line \d+") as caught:
        load_plain_yaml(text)
    assert isinstance(caught.value, yaml.YAMLError)


def test_billion_laughs_is_refused_before_anything_is_built() -> None:
    # 387 million strings if expanded: built, this would exhaust the memory of the test run
    with pytest.raises(UnsafeYAML, match="billion laughs"):
        load_plain_yaml(laughs(9))


def test_plain_documents_and_modest_aliases_read_as_before() -> None:
    text = "limits: &l {bad_max: 5}\nO3: {tests: [*l, *l]}\nlist: [1, 2]\n"
    assert load_plain_yaml(text) == yaml.safe_load(text)
    assert load_plain_yaml(laughs(4)) == yaml.safe_load(laughs(4))  # 6561 values: fine
    assert load_plain_yaml("") is None and load_plain_yaml(b"a: 1") == {"a": 1}
    with pytest.raises(yaml.YAMLError):
        load_plain_yaml("a: [1, 2")
    deep = "[" * 20000 + "]" * 20000
    with pytest.raises(yaml.YAMLError):
        load_plain_yaml(deep)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("O3:\n  tests: [a]\n  units: ppb\n  tests: [b]\n", 4),
        ("managers:\n  - name: m\n    options: {qc: false, qc: true}\n", 3),
    ],
)
def test_a_key_given_twice_is_refused_with_its_line(text: str, line: int) -> None:
    with pytest.raises(yaml.YAMLError, match=rf"found the key .* twice.*\n.*line {line}"):
        load_plain_yaml(text)


def test_merge_keys_may_still_be_overridden() -> None:
    text = "base: &b {min: 1, max: 2}\nO3:\n  <<: *b\n  max: 3\n"
    assert load_plain_yaml(text)["O3"] == {"min": 1, "max": 3}
