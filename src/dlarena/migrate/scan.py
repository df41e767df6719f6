"""What a codebase uses of each framework, read with the standard library's `ast` (no code is
run, no regular expression reads source): per file, the frameworks it imports, the models it
defines (classes deriving from a framework's module base class, Keras models built from
Sequential or Model) and every call site of a framework API, each with its category."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

from dlarena.migrate.mapping import MAPPING, Mapping

# a module's top-level package -> the framework it belongs to
ROOTS = {
    "torch": "torch", "torchvision": "torch", "torchaudio": "torch",
    "tensorflow": "tensorflow", "keras": "tensorflow", "tf_keras": "tensorflow",
    "tf2onnx": "tensorflow",
    "jax": "jax", "flax": "jax", "optax": "jax", "haiku": "jax", "equinox": "jax",
    "orbax": "jax", "jax2onnx": "jax",
    "mxnet": "mxnet", "gluoncv": "mxnet", "gluonnlp": "mxnet",
}  # fmt: skip
SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", "site-packages", ".tox"}
# calls that build a whole Keras model (a functional or sequential one)
MODEL_CONSTRUCTORS = {"keras.Sequential", "keras.models.Sequential", "keras.Model",
                      "keras.models.Model", "keras.models.Functional"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Call:
    api: str  # the dotted name as imported (tf.keras.layers.Dense -> keras.layers.Dense)
    framework: str
    category: str
    line: int
    concept: str | None = None


@dataclasses.dataclass(frozen=True)
class FileScan:
    path: str
    frameworks: tuple[str, ...]
    models: tuple[tuple[str, str, int], ...]  # (name, framework, line)
    calls: tuple[Call, ...]
    error: str | None = None  # a file that does not parse: named, skipped

    @property
    def trains(self) -> bool:
        return any(c.category == "training" for c in self.calls)


def python_sources(root: Path) -> Iterator[Path]:
    """Every .py and .ipynb file under `root` (or `root` itself), in a stable order: virtualenvs
    and VCS folders left out, symbolic links never followed (the scan stays inside `root`, and a
    link loop cannot hold it)."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in (".py", ".ipynb") and not path.is_symlink():
                yield path


def package_of(path: Path) -> list[str]:
    """The dotted package a file's relative imports start from: its folder and every parent
    folder with an __init__.py (mxnet/gluon/model_zoo/vision/resnet.py: mxnet.gluon.model_zoo.
    vision)."""
    parts: list[str] = []
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return parts


def source_of(path: Path) -> str:
    """A notebook's code cells (IPython magics and shell lines dropped), or the file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    notebook = json.loads(text)
    if not isinstance(notebook, dict):
        raise ValueError("not a notebook: its JSON is not an object")
    cells = notebook.get("cells", [])
    lines = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell.get("source", [])
            body = "".join(source) if isinstance(source, list) else str(source)
            lines += [ln for ln in body.splitlines() if not ln.lstrip().startswith(("%", "!"))]
            lines.append("")
    return "\n".join(lines)


def scan_file(path: Path, shown: str, mapping: Mapping = MAPPING) -> FileScan:
    try:
        tree = ast.parse(source_of(path), filename=shown)
    except (SyntaxError, ValueError, OSError) as exc:  # a binary file, one not readable, ...
        return FileScan(shown, (), (), (), error=f"{type(exc).__name__}: {exc}"[:300])
    visitor = _Visitor(mapping, package_of(path))
    visitor.visit(tree)
    return FileScan(
        shown,
        tuple(sorted(visitor.frameworks)),
        tuple(visitor.models),
        tuple(visitor.calls),
    )


class _Visitor(ast.NodeVisitor):
    def __init__(self, mapping: Mapping, package: list[str]):
        self.mapping = mapping
        self.package = package  # where the file's relative imports start
        self.aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self.frameworks: set[str] = set()
        self.models: list[tuple[str, str, int]] = []
        self.calls: list[Call] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0], alias.asname and alias.name)
            if alias.asname is None:  # `import a.b` binds `a`
                self._bind(alias.name.split(".")[0], alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module
        if node.level:  # inside a package: `from ...block import HybridBlock`
            if node.level > len(self.package):
                return
            parts = self.package[: len(self.package) - node.level + 1]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        if base:
            for alias in node.names:
                self._bind(alias.asname or alias.name, f"{base}.{alias.name}")

    def _bind(self, local: str, dotted: str | None) -> None:
        if dotted and (framework := ROOTS.get(dotted.split(".")[0])):
            self.aliases[local] = canonical(dotted)
            self.frameworks.add(framework)

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted framework name an expression stands for, if it is one."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return canonical(".".join([self.aliases[node.id], *reversed(parts)]))
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """A model: a class deriving from a framework's module class, or from a model class
        defined earlier in the same file."""
        local = {name: framework for name, framework, _ in self.models}
        for base in node.bases:
            name = self.resolve(base)
            if name and self.mapping.is_model_base(name):
                self.models.append((node.name, ROOTS[name.split(".")[0]], node.lineno))
                break
            if isinstance(base, ast.Name) and base.id in local:
                self.models.append((node.name, local[base.id], node.lineno))
                break
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        if name is not None:
            framework = ROOTS[name.split(".")[0]]
            concept, category = self.mapping.classify(name, framework)
            self.calls.append(Call(name, framework, category, node.lineno, concept))
            if name in MODEL_CONSTRUCTORS:
                self.models.append((f"{name} (line {node.lineno})", framework, node.lineno))
        elif isinstance(node.func, ast.Attribute):
            self._method(node.func.attr, node.lineno)
        self.generic_visit(node)

    def _method(self, method: str, line: int) -> None:
        """A call on an object (its type unknown without running the code): counted where a
        framework this file imports names it (mapping.yaml's `methods`)."""
        found = self.mapping.methods.get(method)
        if found is None:
            return
        for framework in sorted(self.frameworks & set(found.frameworks)):
            api = f"<{framework} object>.{method}()"
            self.calls.append(Call(api, framework, found.category, line, found.concept))


def canonical(dotted: str) -> str:
    """tf.keras and tensorflow.keras are Keras; tensorflow.python.keras as well."""
    for prefix in ("tensorflow.keras.", "tensorflow.python.keras.", "tf_keras.", "keras.src."):
        if dotted.startswith(prefix):
            return "keras." + dotted[len(prefix) :]
    return dotted


def scan(root: Path, mapping: Mapping = MAPPING) -> list[FileScan]:
    """Every Python file and notebook under `root` that uses a framework (or fails to parse)."""
    found = []
    for path in python_sources(root):
        shown = str(path.relative_to(root)) if path != root else path.name
        result = scan_file(path, shown, mapping)
        if result.frameworks or result.error:
            found.append(result)
    return found
