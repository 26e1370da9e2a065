"""GraphQL documents and the manifest's static files: package data, found through the package.

Every document the app sends to Saleor, and every subscription it declares in the manifest, is a
``.graphql`` file of the repository's top-level ``graphql/`` folder (``subscriptions/``,
``queries/``, ``mutations/``...). Code refers to a document by its file name without the
extension, which must be unique across the whole folder.

Where the files are: ``graphql/`` and ``manifest/`` are package data of ``saleor_up2pay``, under
``saleor_up2pay/_data/``. In the repository that folder holds two symbolic links to the top-level
folders (the source of truth); a wheel holds copies. Either way they are found with
:mod:`importlib.resources` from the installed package, never from the working directory, so an
installed copy works from any directory (and never picks up the ``graphql`` library's own folder in
``site-packages``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

DATA_PACKAGE = "saleor_up2pay"
DATA_FOLDER = "_data"


class DocumentNotFound(LookupError):
    """No ``.graphql`` file has that name (or the package data folder itself is missing)."""


def data_dir(name: str) -> Path:
    """The package data folder ``name`` (``graphql``, ``manifest``) of the installed package."""
    root = resources.files(DATA_PACKAGE) / DATA_FOLDER / name
    if not isinstance(root, Path) or not root.is_dir():
        msg = (
            f"package data folder {DATA_FOLDER}/{name}/ not found in the installed {DATA_PACKAGE} "
            f"({root}): the package was built without it (reinstall it from the repository)"
        )
        raise DocumentNotFound(msg)
    return root


def graphql_dir() -> Path:
    return data_dir("graphql")


@cache
def document_paths() -> dict[str, Path]:
    """Every ``.graphql`` file under ``graphql/``, by name; a duplicated name is an error."""
    paths: dict[str, Path] = {}
    for path in sorted(graphql_dir().rglob("*.graphql")):
        if path.stem in paths:
            msg = f"two GraphQL documents are named {path.stem!r}: {paths[path.stem]} and {path}"
            raise ValueError(msg)
        paths[path.stem] = path
    return paths


@cache
def load_document(name: str) -> str:
    """The text of the document ``name`` (read once, then cached)."""
    try:
        path = document_paths()[name]
    except KeyError:
        msg = f"no GraphQL document named {name!r} under {graphql_dir()}"
        raise DocumentNotFound(msg) from None
    return path.read_text(encoding="utf-8")
