#!/usr/bin/env python3
"""Converts cel-spec `tests/simple/testdata/*.textproto` files into this repository's JSON-lines fixtures.

Usage: convert_simple_tests.py OUT_DIR FILE.textproto...

Each output line is one test case:
  {"file", "section", "name", "expr", "value" | "error": true, "bindings": {name: value},
   "disableCheck": bool, "skip": reason}   (descriptions are dropped: only the facts under test are kept)
Values are tagged: {"int": "-1"}, {"uint": "1"}, {"double": "inf"}, {"string": s}, {"bytes": base64},
{"bool": b}, {"null": true}, {"type": name}, {"list": [v...]}, {"map": [[k, v]...]}.
A case the converter cannot express (a protobuf message or a type-check-only expectation) keeps
its expression and carries a `skip` reason instead of a value.
"""
import base64
import json
import os
import sys


def tokenize(text):
    i, n = 0, len(text)
    out = []
    while i < n:
        c = text[i]
        if c.isspace() or c == ",":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{}[]:<>;":
            out.append(("op", c))
            i += 1
        elif c in "\"'":
            q = c
            i += 1
            buf = bytearray()
            while text[i] != q:
                ch = text[i]
                if ch == "\\":
                    i += 1
                    e = text[i]
                    simple = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39, '"': 34, "?": 63}
                    if e in simple:
                        buf.append(simple[e])
                        i += 1
                    elif e in "01234567":
                        j = i
                        while j < i + 3 and text[j] in "01234567":
                            j += 1
                        buf.append(int(text[i:j], 8))
                        i = j
                    elif e == "x":
                        j = i + 1
                        while j < i + 3 and text[j] in "0123456789abcdefABCDEF":
                            j += 1
                        buf.append(int(text[i + 1 : j], 16))
                        i = j
                    elif e in "uU":
                        k = 4 if e == "u" else 8
                        buf += chr(int(text[i + 1 : i + 1 + k], 16)).encode("utf-8")
                        i += 1 + k
                    else:
                        raise ValueError("bad escape \\" + e)
                else:
                    buf += ch.encode("utf-8")
                    i += 1
            i += 1
            # Adjacent string literals concatenate.
            if out and out[-1][0] == "str":
                out[-1] = ("str", out[-1][1] + bytes(buf))
            else:
                out.append(("str", bytes(buf)))
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{}[]:<>;,#\"'":
                j += 1
            out.append(("word", text[i:j]))
            i = j
    return out


def parse_message(toks, pos, close):
    """Returns ([(field, value)], pos): values are bytes, words, or nested lists."""
    fields = []
    while pos < len(toks) and toks[pos] != ("op", close):
        kind, name = toks[pos]
        if kind == "op" and name == "[":
            # An Any's type URL: `[type.googleapis.com/x.Y] { ... }`.
            j = pos
            while toks[j] != ("op", "]"):
                j += 1
            name = "[" + "".join(t[1] for t in toks[pos + 1 : j]) + "]"
            pos = j
        pos += 1
        if toks[pos] == ("op", ":"):
            pos += 1
        if toks[pos] in (("op", "{"), ("op", "<")):
            end = "}" if toks[pos][1] == "{" else ">"
            value, pos = parse_message(toks, pos + 1, end)
            pos += 1
        elif toks[pos] == ("op", "["):
            # A repeated scalar list: `[a, b]`.
            pos += 1
            while toks[pos] != ("op", "]"):
                fields.append((name, toks[pos][1]))
                pos += 1
            pos += 1
            continue
        else:
            value = toks[pos][1]
            pos += 1
        fields.append((name, value))
    return fields, pos


def get(fields, name, default=None):
    for k, v in fields:
        if k == name:
            return v
    return default


class Unsupported(Exception):
    pass


def convert_value(fields):
    k, v = fields[0]
    if k == "int64_value":
        return {"int": v}
    if k == "uint64_value":
        return {"uint": v}
    if k == "double_value":
        return {"double": v}
    if k == "string_value":
        return {"string": v.decode("utf-8")}
    if k == "bytes_value":
        return {"bytes": base64.b64encode(v).decode()}
    if k == "bool_value":
        return {"bool": v == "true"}
    if k == "null_value":
        return {"null": True}
    if k == "type_value":
        return {"type": v.decode("utf-8")}
    if k == "list_value":
        return {"list": [convert_value(x) for n, x in v if n == "values"]}
    if k == "map_value":
        return {"map": [[convert_value(get(e, "key")), convert_value(get(e, "value"))] for n, e in v if n == "entries"]}
    raise Unsupported("protobuf message value (" + k + ")")


def convert_file(path):
    toks = tokenize(open(path, encoding="utf-8").read())
    top, _ = parse_message(toks, 0, None)
    file = get(top, "name").decode()
    for sk, section in top:
        if sk != "section":
            continue
        sname = get(section, "name").decode()
        for tk, test in section:
            if tk != "test":
                continue
            case = {"file": file, "section": sname, "name": get(test, "name").decode(), "expr": get(test, "expr").decode("utf-8")}
            if get(test, "disable_check") == "true":
                case["disableCheck"] = True
            try:
                expr = case["expr"]
                if "TestAllTypes" in expr or "cel.expr.conformance." in expr:
                    raise Unsupported("protobuf messages (conformance test message types)")
                container = get(test, "container")
                if container is not None and container.decode().startswith("cel.expr.conformance"):
                    raise Unsupported("protobuf messages (container " + container.decode() + ")")
                if container is not None:
                    raise Unsupported("expression container " + container.decode() + " (Kubernetes compiles with none)")
                if get(test, "check_only") == "true":
                    raise Unsupported("type-check-only expectation")
                bindings = {}
                for bk, b in test:
                    if bk == "bindings":
                        bindings[get(b, "key").decode()] = convert_value(get(get(b, "value"), "value"))
                if bindings:
                    case["bindings"] = bindings
                if get(test, "eval_error") is not None:
                    case["error"] = True
                elif get(test, "value") is not None:
                    case["value"] = convert_value(get(test, "value"))
                elif get(test, "typed_result") is not None:
                    raise Unsupported("typed_result (checker result type)")
                else:
                    case["value"] = {"bool": True}
            except Unsupported as e:
                case["skip"] = str(e)
            yield case


def main():
    out_dir = sys.argv[1]
    for path in sys.argv[2:]:
        cases = list(convert_file(path))
        name = os.path.basename(path).replace(".textproto", ".jsonl")
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"{name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
