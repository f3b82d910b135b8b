"""Shared loading of the Terraform configuration for the tests.

Every directory (a module or the root module stack/) is parsed with python-hcl2 into a `Config`: resources,
data sources, variables, outputs, module calls and locals by name, plus the raw text of its files.
String values keep their HCL form: a literal is its text ("zufang"), an expression is "${...}".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
import pytest
from hcl2.utils import SerializationOptions

TF_ROOT = Path(__file__).resolve().parent.parent
REPO = TF_ROOT.parent.parent
MODULES = ["network", "bastion", "edge", "app", "data", "storage", "broker"]
ENVIRONMENTS = ["staging", "prod"]  # environments/<env>.tfvars of the one root module, stack/

OPTIONS = SerializationOptions(
    with_comments=False,
    explicit_blocks=False,
    strip_string_quotes=True,
    preserve_heredocs=False,
)


def tf_files(root: Path = TF_ROOT) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def normalize(value):
    """Strip the quotes python-hcl2 keeps on block labels and drop its metadata keys."""
    if isinstance(value, dict):
        return {unquote(k): normalize(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def parse_file(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return normalize(hcl2.load(f, serialization_options=OPTIONS))


@dataclass
class Config:
    path: Path
    resources: dict = field(default_factory=dict)  # (type, name) -> body
    data: dict = field(default_factory=dict)  # (type, name) -> body
    variables: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    modules: dict = field(default_factory=dict)
    locals: dict = field(default_factory=dict)
    terraform: list = field(default_factory=list)
    providers: list = field(default_factory=list)
    text: str = ""  # all .tf files of the directory, concatenated
    files: dict = field(default_factory=dict)  # file name -> parsed dict

    def resources_of(self, rtype: str) -> dict:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}


def load_dir(path: Path) -> Config:
    cfg = Config(path=path)
    texts = []
    for f in sorted(path.glob("*.tf")):
        texts.append(f.read_text(encoding="utf-8"))
        doc = parse_file(f)
        cfg.files[f.name] = doc
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    assert (rtype, name) not in cfg.resources, f"duplicate resource {rtype}.{name}"
                    cfg.resources[(rtype, name)] = body
        for block in doc.get("data", []):
            for dtype, named in block.items():
                for name, body in named.items():
                    cfg.data[(dtype, name)] = body
        for block in doc.get("variable", []):
            cfg.variables.update(block)
        for block in doc.get("output", []):
            cfg.outputs.update(block)
        for block in doc.get("module", []):
            cfg.modules.update(block)
        for block in doc.get("locals", []):
            cfg.locals.update(block)
        cfg.terraform.extend(doc.get("terraform", []))
        cfg.providers.extend(doc.get("provider", []))
    cfg.text = "\n".join(texts)
    return cfg


@pytest.fixture(scope="session")
def modules() -> dict[str, Config]:
    return {m: load_dir(TF_ROOT / "modules" / m) for m in MODULES}


@pytest.fixture(scope="session")
def environments() -> dict[str, Config]:
    """The root module every environment applies (keyed "stack" where tests name the directory)."""
    return {"stack": load_dir(TF_ROOT / "stack")}


def tfvars(env: str) -> dict:
    """environments/<env>.tfvars, parsed."""
    return parse_file(TF_ROOT / "environments" / f"{env}.tfvars")


def refs(expr, prefix: str) -> set[str]:
    """Names referenced as prefix.NAME (e.g. var.x, local.y) anywhere inside a parsed value."""
    found: set[str] = set()
    pattern = re.compile(r"(?<![\w.])" + re.escape(prefix) + r"\.([A-Za-z_][A-Za-z0-9_-]*)")

    def walk(v):
        if isinstance(v, str):
            found.update(pattern.findall(v))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(expr)
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def block(body: dict, name: str) -> dict:
    """A nested block that appears once (python-hcl2 gives blocks as lists)."""
    value = body.get(name)
    assert value is not None, f"missing block {name}"
    if isinstance(value, list):
        assert len(value) == 1, f"block {name} appears {len(value)} times"
        return value[0]
    return value


def which(tool: str) -> str | None:
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = Path(d) / tool
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None
