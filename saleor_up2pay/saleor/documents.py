"""GraphQL documents and other project files that live beside the package, found by name.

Every document the app sends to Saleor, and every subscription it declares in the manifest, is a
``.graphql`` file under the project's ``graphql/`` folder (``subscriptions/``, ``queries/``,
``mutations/``...). Code refers to a document by its file name without the extension, which must
be unique across the whole folder.

Where the folders are: beside the package in a source checkout or an editable install
(``<repo>/graphql``), else in the current directory (the Docker image runs from ``/app``, which
holds ``graphql/`` and ``manifest/``). A wheel installed elsewhere does not ship them: run the app
from a directory that contains them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


class DocumentNotFound(LookupError):
    """No ``.graphql`` file has that name (or the ``graphql/`` folder itself is missing)."""


def project_dir(name: str) -> Path:
    """The project folder ``name`` (``graphql``, ``manifest``): beside the package, else in cwd."""
    for candidate in (PACKAGE_DIR.parent / name, Path.cwd() / name):
        if candidate.is_dir():
            return candidate
    msg = (
        f"folder {name}/ not found beside the package ({PACKAGE_DIR.parent}) "
        f"nor in the current directory ({Path.cwd()})"
    )
    raise DocumentNotFound(msg)


def graphql_dir() -> Path:
    return project_dir("graphql")


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
