"""Unique variable names for formats that restrict them: deterministic, flags kept paired.

A writer makes a source's own names fit its format (``Özone`` -> ``Ozone`` for CF and ICARTT).
Two names of one flight can then become one: a flight imported from two CARIBIC files names
its ozone ``Ozone`` in one and ``Özone`` in the other, and refusing the collision left the
flight impossible to export. :func:`unique_names` settles such collisions instead:

* a name chosen by the user (a writer's name table) is never changed; two chosen names that
  collide are the user's to fix, and a :class:`~stratoflow.errors.ConfigError` says so;
* a name the format takes as it is keeps it; among the others that want the same name the
  first in order of their original names gets it and the rest get ``_2``, ``_3``... (the
  first suffix free of every name written), so the same variables are always written under
  the same names, whatever order the Dataset lists them in;
* a variable's family (its ``<var>_flag``, an ``<var>_error`` of it...) follows it
  (``Ozone_2``, ``Ozone_2_flag``), so the readers that pair them by name pair them again;
* ``fold``: names that differ only in case count as the same (CF 1.8 section 2.3 asks that no
  two names differ by case alone, and many ICARTT tools read names case-insensitively).

The writer keeps the original name in the file (netCDF ``original_name``, the long name of
ICARTT and NASA Ames), so nothing is lost by the renaming.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from stratoflow.errors import ConfigError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["plain_tail", "renamed_variables", "unique_names"]


def renamed_variables(
    ds: xr.Dataset,
    fit: Callable[[str], str],
    *,
    avoid: Collection[str],
    fold: bool = False,
    shown: Callable[[str], str] = str,
    max_length: int | None = None,
) -> tuple[xr.Dataset, dict[str, str]]:
    """``ds`` with every variable named as ``fit`` makes its name fit a text format (ICARTT,
    NASA Ames), and the name each variable got.

    A ``<var>_flag`` follows its variable; names that become one are told apart
    (:func:`unique_names`); the source's name stays in the long name, which also says, for a
    name told apart, which source name it was (``shown`` spells it for the format); the
    ``ancillary_variables`` links follow the new names. ``max_length`` (ICARTT: 31) cuts a
    name so that it, its flag's name and a ``_2`` fit; a cut name's long name says its
    source name too.
    """
    from stratoflow.dataset import FLAG_SUFFIX

    roots: dict[str, str] = {}
    members: dict[str, tuple[str, str]] = {}
    for key in map(str, ds.data_vars):
        stem = key.removesuffix(FLAG_SUFFIX)
        if stem != key and stem in ds.data_vars:
            members[key] = (stem, FLAG_SUFFIX)
        else:
            roots[key] = fit(key)
    fitted = dict(roots)
    if max_length is not None:
        tails: dict[str, int] = {}
        for stem, tail in members.values():
            tails[stem] = max(tails.get(stem, 0), len(tail))
        for key, name in fitted.items():
            room = max_length - tails.get(key, 0)
            if len(name) > room:  # three characters left for a "_2" should it collide
                roots[key] = name[: max(1, room - 3)].rstrip("_")
    renames = unique_names(roots, members, fixed_tails=members, avoid=avoid, fold=fold)
    changed = {k: v for k, v in renames.items() if k != v}
    if not changed:
        return ds, renames
    out = ds.copy()
    for key, new in changed.items():
        attrs = out[key].attrs
        if key in roots and new != fitted[key]:  # told apart or cut: say which variable
            long_name = str(attrs.get("long_name", "")).strip()
            source = shown(key)
            attrs["long_name"] = f"{long_name} (source name {source})" if long_name else key
        else:
            attrs.setdefault("long_name", key)
    for key in map(str, out.data_vars):  # links follow the renamed variables
        listed = str(out[key].attrs.get("ancillary_variables", "")).split()
        if listed:
            out[key].attrs["ancillary_variables"] = " ".join(renames.get(n, n) for n in listed)
    return out.rename(changed), renames


def plain_tail(text: str) -> str:
    """The end of a name (``error`` of ``Özone_error``) in letters, digits and underscores,
    accents dropped; empty when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_]+", "_", ascii_text).strip("_")


def unique_names(
    roots: Mapping[str, str],
    members: Mapping[str, tuple[str, str]],
    *,
    chosen: Collection[str] = (),
    fixed_tails: Collection[str] = (),
    avoid: Collection[str] = (),
    fold: bool = False,
) -> dict[str, str]:
    """The name each variable is written as, unique (see the module).

    ``roots`` maps a variable to the name wanted for it; ``members`` maps a variable that
    belongs to another (a flag to its variable, ``O3_error`` to ``O3``) to ``(owner, tail)``:
    it is written as its owner's name followed by ``tail``. ``chosen`` are the roots whose
    names the user chose; ``fixed_tails`` the members whose tail must stay as given (flags:
    a reader finds them by it); ``avoid`` names no renamed variable may take. Raises
    :class:`ConfigError` when chosen names collide.
    """
    key: Callable[[str], str] = str.casefold if fold else str
    tails = _family_tails(members, fixed_tails, key)
    family: dict[str, list[str]] = defaultdict(list)  # root -> full tails of its members
    for name in members:
        family[_root(name, members)].append(_full_tail(name, members, tails))

    def order(root: str) -> tuple[int, str]:
        return (0 if root in chosen else 1 if roots[root] == root else 2, root)

    taken: dict[str, str] = {}  # folded name -> the root whose family has it
    out: dict[str, str] = {}

    def claim(root: str, name: str) -> str | None:
        """Give ``root`` (and its family) ``name``; the holder of a name in the way if not."""
        names = [name, *(name + tail for tail in family[root])]
        for candidate in names:
            if key(candidate) in taken:
                return taken[key(candidate)]
        taken.update({key(candidate): root for candidate in names})
        out[root] = name
        return None

    losers: list[str] = []
    for root in sorted(roots, key=order):
        holder = claim(root, roots[root])
        if holder is None:
            continue
        if root in chosen:
            raise ConfigError(
                f"names collide: {root!r} would be written as {roots[root]!r}, which "
                f"{holder!r} is written as too; choose another name"
            )
        losers.append(root)
    avoided = {key(name) for name in avoid}
    for root in losers:  # after every plain name is given out: a suffix never takes one
        number = 2
        while True:
            name = f"{roots[root]}_{number}"
            if key(name) not in avoided and claim(root, name) is None:
                break
            number += 1
    for name in members:
        out[name] = out[_root(name, members)] + _full_tail(name, members, tails)
    return out


def _root(name: str, members: Mapping[str, tuple[str, str]]) -> str:
    while name in members:
        name = members[name][0]
    return name


def _full_tail(name: str, members: Mapping[str, tuple[str, str]], tails: Mapping[str, str]) -> str:
    text = ""
    while name in members:
        text = tails[name] + text
        name = members[name][0]
    return text


def _family_tails(
    members: Mapping[str, tuple[str, str]], fixed: Collection[str], key: Callable[[str], str]
) -> dict[str, str]:
    """Each member's tail, unique among the members of one owner (``_err`` and ``_ërr``
    both made ``_err``: the second in name order gets ``_err_2``); fixed tails first."""
    siblings: dict[str, list[str]] = defaultdict(list)
    for name, (owner, _) in members.items():
        siblings[owner].append(name)
    out: dict[str, str] = {}
    for names in siblings.values():
        seen: set[str] = set()
        for name in sorted(names, key=lambda n: (n not in fixed, n)):
            tail, number = members[name][1], 2
            while key(tail) in seen:
                if name in fixed:
                    raise ConfigError(f"names collide: two variables end in {tail!r}")
                tail, number = f"{members[name][1]}_{number}", number + 1
            seen.add(key(tail))
            out[name] = tail
    return out
