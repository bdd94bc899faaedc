#!/usr/bin/env python3
"""Generate crates/sim/src/protobuf/schema.rs: the Kubernetes protobuf schema the simulator needs.

kubectl sends protobuf request bodies for built-in kinds (client-go's typed clients default
to `application/vnd.kubernetes.protobuf`). To decode them the simulator needs, for every
message, each field's tag, wire type and JSON name. Tags and types come from the prost
bindings in the `k8s-pb` crate; JSON names come from `k8s-openapi`'s serde field lists
(prost's snake_case loses acronyms: `podIP` becomes `pod_ip`). This script joins the two.

Usage (the crates only need to be in cargo's registry cache; `cargo fetch` in muster brings
k8s-openapi, `cargo info k8s-pb@0.9.0` brings k8s-pb):

    python3 hack/gen-protobuf-schema.py > crates/sim/src/protobuf/schema.rs
"""

import glob
import os
import re
import sys

K8S_PB_VERSION = "0.9.0"
K8S_OPENAPI_VERSION = "0.29.0"
OPENAPI_K8S = "v1_37"

# Packages (k8s-pb module paths) whose messages are included.
PACKAGES = [
    "api/core/v1",
    "api/apps/v1",
    "api/autoscaling/v1",
    "api/coordination/v1",
    "api/events/v1",
    "api/policy/v1",
    "apimachinery/pkg/apis/meta/v1",
    "apimachinery/pkg/api/resource",
    "apimachinery/pkg/util/intstr",
    "apimachinery/pkg/runtime",
]

# Go structs embedded with `json:",inline"`: their fields appear in the parent's JSON.
INLINE = {"local_object_reference", "ephemeral_container_common", "volume_source", "persistent_volume_source", "handler"}

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float"}


def registry_dir(name, version):
    hits = glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}-{version}"))
    if not hits:
        sys.exit(f"{name}-{version} is not in cargo's registry cache; fetch it first (see the docstring)")
    return hits[0]


def openapi_fields(root):
    """(module path, StructName) -> {normalised snake field: json name}."""
    out = {}
    base = os.path.join(root, "src", OPENAPI_K8S)
    for path in glob.glob(os.path.join(base, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), base)
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^pub struct (\w+)", text, re.M):
            fields = {}
            for f in re.finditer(r'"([A-Za-z0-9$_\-]+)" => Field::Key_(\w+),', text):
                fields[loose(f.group(2))] = f.group(1)
            out[(rel, m.group(1))] = fields
    return out


def norm(snake):
    return snake.replace("r#", "").rstrip("_")


def loose(snake):
    """Snake names compared without underscores: prost's `pod_cid_rs` is k8s-openapi's `pod_cidrs`."""
    return norm(snake).replace("_", "").lower()


def camel(snake):
    parts = norm(snake).split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def resolve(module, type_text):
    """Resolve a prost type path (`super::super::meta::v1::Time`, `PodSpec`) to a dotted name."""
    segs = [s for s in type_text.split("::") if s]
    mod = list(module)
    while segs and segs[0] == "super":
        mod.pop()
        segs.pop(0)
    return ".".join(mod + segs)


FIELD_RE = re.compile(r"#\[prost\(([^]]*)\)\]\s*pub (r#)?(\w+):\s*([^\n]+),\n")


def parse_pb(root):
    messages = {}
    for pkg in PACKAGES:
        path = os.path.join(root, "src", pkg, "mod.rs")
        text = open(path, encoding="utf-8").read()
        module = pkg.split("/")
        for sm in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
            name, body = sm.group(1), sm.group(2) + "\n"
            fields = []
            for fm in FIELD_RE.finditer(body):
                attrs, field, ty = fm.group(1), fm.group(3), fm.group(4)
                tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
                repeated = "repeated" in attrs
                if attrs.startswith("btree_map") or attrs.startswith("map"):
                    key, value = [s.strip() for s in re.search(r'map = "([^"]+)"', attrs).group(1).split(",")]
                    if value == "message":
                        inner = re.search(r"BTreeMap<[^,]+,\s*(.+)>$", ty.strip()).group(1).strip()
                        kind = ("map_message", resolve(module, inner))
                    else:
                        kind = ("map", value)
                else:
                    wire = attrs.split(",")[0].split("=")[0].strip()
                    if wire == "message":
                        inner = re.sub(r"^(::core::option::Option|::prost::alloc::vec::Vec)<", "", ty.strip())
                        inner = inner[:-1] if inner.endswith(">") else inner
                        inner = inner.replace("::prost::alloc::boxed::Box<", "").rstrip(">")
                        kind = ("message", resolve(module, inner))
                    elif wire in SCALARS:
                        kind = ("scalar", wire)
                    else:
                        sys.exit(f"{pkg}.{name}.{field}: unsupported prost attribute {attrs}")
                fields.append((tag, field, kind, repeated))
            messages[".".join(module + [name])] = (pkg, name, fields)
    return messages


def rust_kind(kind):
    k, v = kind
    if k == "scalar":
        return "Kind::" + {"string": "String", "bytes": "Bytes", "bool": "Bool", "int32": "Int", "int64": "Int",
                           "uint32": "Int", "uint64": "Int", "double": "Double", "float": "Float"}[v]
    if k == "message":
        return f'Kind::Message("{v}")'
    if k == "inline":
        return f'Kind::Inline("{v}")'
    if k == "map":
        return "Kind::Map(&" + rust_kind(("scalar", v)) + ")"
    if k == "map_message":
        return f'Kind::Map(&Kind::Message("{v}"))'
    raise ValueError(kind)


def main():
    pb = parse_pb(registry_dir("k8s-pb", K8S_PB_VERSION))
    oa = openapi_fields(registry_dir("k8s-openapi", K8S_OPENAPI_VERSION))
    missing = []
    out = [
        "// @generated by hack/gen-protobuf-schema.py from k8s-pb "
        + K8S_PB_VERSION + " and k8s-openapi " + K8S_OPENAPI_VERSION + f" ({OPENAPI_K8S}). Do not edit.",
        "//! The Kubernetes protobuf messages the simulator decodes: tag, JSON name and kind of every field.",
        "",
        "use super::{Field, Kind, Message};",
        "",
        "/// Every known message, sorted by full name (binary-searched by `lookup`).",
        "pub static MESSAGES: &[Message] = &[",
    ]
    for full in sorted(pb):
        pkg, name, fields = pb[full]
        json_names = oa.get((pkg, name), {})
        out.append(f'    Message {{ name: "{full}", fields: &[')
        for tag, field, kind, repeated in sorted(fields):
            json = json_names.get(loose(field))
            if json is None and field in INLINE and kind[0] == "message":
                kind = ("inline", kind[1])
                json = ""
            elif json is None:
                json = camel(field)
                if json_names:
                    missing.append(f"{full}.{field} -> {json}")
            for k, v in [kind]:
                if k in ("message", "map_message", "inline") and v not in pb:
                    sys.exit(f"{full}.{field}: message {v} is outside the generated packages")
            rep = "true" if repeated else "false"
            out.append(f'        Field {{ tag: {tag}, json: "{json}", kind: {rust_kind(kind)}, repeated: {rep} }},')
        out.append("    ] },")
    out.append("];")
    print("\n".join(out))
    for m in missing:
        print(f"note: no k8s-openapi JSON name for {m} (camelCase guessed)", file=sys.stderr)


if __name__ == "__main__":
    main()
