"""Every stage declares exactly what it reads: its params, and every path its command passes.

DVC re-runs a stage only when a *declared* param or dependency changes, so a stage that reads an
undeclared param or file silently goes stale (e.g. `dvc exp run -S ee.threshold=0.7` would not
re-run it), and a file it writes without declaring it is neither cached nor restored.

Params: the check is static. In each ``stages/*.py`` every attribute chain read from the object
returned by ``load_params()`` (``p.ee.threshold``, or ``p.ee`` passed whole) must be covered by a
declared key (``ee.threshold`` or ``ee``). A chain handed to a ``deevisum`` function (``p.asr``
to ``transcribe_dir``, ``p`` to ``early_exit_report``) is followed into that function (and on
into the ones it calls), where what it reads of the parameter counts; a chain handed to anything
else (``dataclasses.asdict(ee.train)``, a constructor) counts as read whole. Keys of params.yaml
that ``dvc.yaml`` interpolates into the stage (``${data.dataset_dir}``) count as used.

Paths: stage scripts get every path as ``--name VALUE`` (``deevisum.app.stage.stage_args``),
with the values templated in ``dvc.yaml`` (``${paths.*}`` of its ``vars``, ``${item}`` of
foreach stages, ``${data.dataset_dir}`` of params.yaml); each must be a declared dep or
out/metric/plot of that stage. A stage that handles several roles in one process names them as
positional words (``score.py teacher mentor ... --models models``) and reads or writes one entry
``<folder>/<prefix><item>`` of a folder argument per item: those entries must be declared.
"""

from __future__ import annotations

import ast
import functools
import itertools
import posixpath
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from deevisum.checkpointing import module_file

REPO = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
STAGES = DVC_YAML["stages"]

# ---------------- dvc.yaml templating ----------------

INTERPOLATION = re.compile(r"\$\{\s*([^}\s]+)\s*\}")


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    value: Any = context
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"${{{key}}} is not defined (params.yaml, dvc.yaml vars, foreach item)")
        value = value[part]
    return value


def interpolate(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every ``${key}`` replaced as DVC does (a whole-string reference keeps its type)."""
    if isinstance(value, str):
        whole = INTERPOLATION.fullmatch(value)
        if whole:
            return _lookup(context, whole[1])
        return INTERPOLATION.sub(lambda m: str(_lookup(context, m[1])), value)
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if isinstance(value, dict):
        return {interpolate(k, context): interpolate(v, context) for k, v in value.items()}
    return value


def template_context(dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """What ``${...}`` sees: params.yaml, then the inline ``vars`` of dvc.yaml."""
    context = dict(params)
    for entry in dvc_yaml.get("vars", []):
        if not isinstance(entry, dict):
            pytest.fail(f"dvc.yaml vars: {entry!r}: only inline vars are understood by this test")
        context.update(entry)
    return context


def resolved_stages(dvc_yaml: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every stage as DVC runs it (``name@item`` for foreach stages), with the templating resolved."""
    context = template_context(dvc_yaml, params)
    stages = {}
    for name, stage in dvc_yaml.get("stages", {}).items():
        if "foreach" in stage:
            items = stage["foreach"]
            pairs = items.items() if isinstance(items, dict) else [(str(i), i) for i in items]
            for key, item in pairs:
                stages[f"{name}@{key}"] = interpolate(stage["do"], {**context, "item": item, "key": key})
        else:
            stages[name] = interpolate(stage, context)
    return stages


def templated_params(stage: Any, params: Mapping[str, Any] = PARAMS) -> set[str]:
    """params.yaml keys that a stage's definition interpolates (``${data.dataset_dir}``)."""
    found: set[str] = set()
    if isinstance(stage, str):
        for key in INTERPOLATION.findall(stage):
            try:
                _lookup(params, key)
            except KeyError:
                continue  # dvc.yaml vars (``paths``) or the foreach item: not a param
            found.add(key)
    elif isinstance(stage, dict):
        for k, v in stage.items():
            found |= templated_params(k, params) | templated_params(v, params)
    elif isinstance(stage, list):
        for v in stage:
            found |= templated_params(v, params)
    return found


def _entries(stage: Mapping[str, Any], kinds: tuple[str, ...]) -> set[str]:
    """Paths of a resolved stage's entries of ``kinds`` (plain strings or ``{path: flags}``)."""
    paths = set()
    for kind in kinds:
        for entry in stage.get(kind, []):
            for path in entry if isinstance(entry, dict) else [entry]:
                paths.add(posixpath.normpath(path))
    return paths


def deps(stage: Mapping[str, Any]) -> set[str]:
    return _entries(stage, ("deps",))


def outputs(stage: Mapping[str, Any]) -> set[str]:
    return _entries(stage, ("outs", "metrics", "plots"))


# ---------------- params read by a stage script ----------------


SNIPPETS: dict[Path, str] = {}
"""Sources analysed without a file (the unit tests' snippets), by a made-up path."""


@functools.cache
def _parsed(path: Path) -> tuple[ast.Module, dict[str, tuple[str, str | None]], dict[str, ast.FunctionDef]]:
    """(tree, imported name -> (deevisum module, attribute or None for a module), top-level functions)."""
    source = SNIPPETS[path] if path in SNIPPETS else path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path))
    imports: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):  # module level and inside functions (lazy imports) alike
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = alias.asname or alias.name
                if module_file(f"{node.module}.{alias.name}"):  # ``from deevisum import early_exit``
                    imports[name] = (f"{node.module}.{alias.name}", None)
                elif module_file(node.module):
                    imports[name] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and module_file(alias.name):
                    imports[alias.asname] = (alias.name, None)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    return tree, imports, functions


def _function(module: str, name: str, hops: int = 0) -> tuple[Path, ast.FunctionDef] | None:
    """The definition of ``module.name``, following re-exports (``deevisum.evaluation.evaluate_scores``)."""
    path = module_file(module)
    if path is None or hops > 10:
        return None
    _, imports, functions = _parsed(path)
    if name in functions:
        return path, functions[name]
    if name in imports and imports[name][1] is not None:
        return _function(imports[name][0], imports[name][1], hops + 1)
    return None


def _callee(func: ast.expr, path: Path) -> tuple[Path, ast.FunctionDef] | None:
    """The ``deevisum`` (or same-file) function a call calls, when it is one."""
    _, imports, functions = _parsed(path)
    if isinstance(func, ast.Name):
        if func.id in functions:
            return path, functions[func.id]
        if func.id in imports and imports[func.id][1] is not None:
            return _function(*imports[func.id])
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in imports:
        module, attr = imports[func.value.id]
        if attr is None:  # ``module.function(...)``
            return _function(module, func.attr)
    return None


def _parameter(call: ast.Call, arg: ast.expr, fn: ast.FunctionDef) -> str | None:
    """The parameter of ``fn`` that ``arg`` (an argument of ``call``) binds to."""
    positional = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    for i, value in enumerate(call.args):
        if value is arg:
            return positional[i] if i < len(positional) else None
    named = set(positional) | {a.arg for a in fn.args.kwonlyargs}
    for kw in call.keywords:
        if kw.value is arg:
            return kw.arg if kw.arg in named else None
    return None


def _chain(node: ast.AST) -> list[str]:
    """``p.a.b`` -> [p, a, b] (outermost attribute last); [] when not a plain chain."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(names)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_params":
        return ["load_params()", *reversed(names)]
    return []


def _reads(node: ast.AST, path: Path, roots: Mapping[str, str], seen: frozenset) -> set[str]:
    """Dotted params keys read inside ``node`` (of file ``path``) from the names in ``roots``
    (name -> the key it holds; "" for the whole params object)."""
    parents = {id(child): parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
    inner = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    read: set[str] = set()
    for n in ast.walk(node):
        if id(n) in inner or not isinstance(n, (ast.Attribute, ast.Name)):
            continue
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            continue
        chain = _chain(n)
        if not chain or chain[0] not in roots:
            continue
        parent = parents.get(id(n))
        if isinstance(parent, ast.Call) and parent.func is n and len(chain) > 1:
            chain = chain[:-1]  # a method call (``template.strip()``): its object is read whole
        key = ".".join(k for k in (roots[chain[0]], *chain[1:]) if k)
        call = parents.get(id(parent)) if isinstance(parent, ast.keyword) else parent
        if isinstance(call, ast.Call) and call.func is not n and (callee := _callee(call.func, path)) is not None:
            name = _parameter(call, n, callee[1])
            if name is not None and (callee[0], callee[1].name, name, key) not in seen:
                read |= _reads(callee[1], callee[0], {name: key}, seen | {(callee[0], callee[1].name, name, key)})
                continue
        read.add(key)  # used here, or handed on to something not followed: read whole
    return read


def params_read(source: str, path: Path | None = None) -> set[str]:
    """Dotted params keys a stage script reads (the longest chain at each use; "" = the whole object)."""
    tree = ast.parse(source)
    roots = {"load_params()": ""}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(getattr(node.value, "func", None), "id", None) == "load_params":
            roots.update((t.id, "") for t in node.targets if isinstance(t, ast.Name))
    if path is None:  # a snippet: its imports and functions are resolved from the text
        path = Path(f"<snippet {len(SNIPPETS)}>")
        SNIPPETS[path] = source
    return _reads(tree, path, roots, frozenset())


def _covered(key: str, declared: set[str]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


def _declared(stage: dict) -> set[str]:
    keys: set[str] = set()
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            keys.add(entry)
        else:  # {file: [keys]}
            for file_keys in entry.values():
                keys.update(file_keys)
    return keys


def _script(stage: dict) -> Path | None:
    for word in str(stage["cmd"]).split():
        if word.startswith("stages/") and word.endswith(".py"):
            return REPO / word
    return None


def test_params_read_finds_chains() -> None:
    src = "from deevisum.config import load_params\np = load_params()\nx = p.ee.threshold\nf(p.frames)\n"
    assert params_read(src) == {"ee.threshold", "frames"}
    assert params_read("from deevisum.config import load_params\nn = load_params().train.eval_batch_size\n") == {"train.eval_batch_size"}
    assert not _covered("ee.threshold", {"ee.exit_layers"})
    assert _covered("ee.train.lr", {"ee.train"})


def test_params_read_follows_deevisum_functions() -> None:
    """A params object handed to a deevisum function counts by what that function reads of it."""
    src = (
        "import dataclasses\nfrom deevisum.config import load_params\nfrom deevisum.data.audio_cues import corpus_cues\n"
        "p = load_params()\ncorpus_cues(videos, audio, transcripts, sr, p.cues, report)\ndataclasses.asdict(p.ee.train)\n"
    )
    read = params_read(src)
    assert {"cues.loud_db", "cues.quiet_db", "cues.onset_threshold"} <= read
    assert "cues" not in read  # not read whole: only what corpus_cues reads
    assert "ee.train" in read  # handed to a function outside deevisum: read whole
    # names imported from another deevisum module are followed to their definition
    src = "from deevisum.config import load_params\nfrom deevisum.evaluation.protocol import evaluate_scores\np = load_params()\nevaluate_scores(s, b, p.evaluate)\n"
    assert params_read(src) and all(k.startswith("evaluate.") or k == "evaluate" for k in params_read(src))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_reads_only_declared_params(name: str) -> None:
    stage = STAGES[name].get("do", STAGES[name])  # foreach stages: the template
    script = _script(stage)
    if script is None or not script.is_file():
        pytest.fail(f"stage {name}: cmd {stage['cmd']!r} names no stages/*.py script that exists")
    read = params_read(script.read_text(), script)
    declared = _declared(stage)
    undeclared = sorted(k for k in read if not _covered(k, declared))
    assert not undeclared, f"stage {name} ({script.name}) reads undeclared params: {undeclared}"
    # Over-declaring makes DVC re-run the stage for params it never reads; a key dvc.yaml interpolates
    # into the stage (its cmd and deps change with it anyway) is used.
    used = read | templated_params(stage)
    unused = sorted(d for d in declared if not any(_covered(k, {d}) or _covered(d, {k}) for k in used))
    assert not unused, f"stage {name} ({script.name}) declares params it never reads: {unused}"


# ---------------- every path argument is declared ----------------

PATHS = template_context(DVC_YAML, PARAMS)["paths"]
RESOLVED = resolved_stages(DVC_YAML, PARAMS)

SCRATCH = {"checkpoint": "checkpoints", "checkpoints": "checkpoints"}
"""Argument -> ``paths`` entry of training stages' resume state (deevisum.checkpointing): scratch
that never changes what a stage writes, so it is neither a dep nor an out (a declared out would be
deleted by DVC before the stage runs, and could not come back with a clone)."""


def path_args(cmd: str) -> Iterator[tuple[str, str]]:
    """(name, value) of each ``--name VALUE`` of a command."""
    words = shlex.split(cmd)
    for flag, value in itertools.pairwise(words):
        if flag.startswith("--") and not value.startswith("--"):
            yield flag[2:], value


def positional(cmd: str) -> list[str]:
    """The words between a command's stage script and its first option: the roles or variants it handles."""
    words = shlex.split(cmd)
    script = next(i for i, w in enumerate(words) if w.startswith("stages/") and w.endswith(".py"))
    return list(itertools.takewhile(lambda w: not w.startswith("--"), words[script + 1:]))


def _under(path: str, folder: str) -> bool:
    return path.startswith(posixpath.normpath(folder) + "/")


def _item_entries(entries: set[str], items: list[str]) -> list[str]:
    """The ``<prefix><item>`` of each positional item, one shared prefix, when ``entries`` hold them all
    (other entries belong to other arguments, e.g. models/tokenizer); [] when they do not."""
    prefixes = sorted({e[: len(e) - len(items[0])] for e in entries if e.endswith(items[0])}) if items else []
    return next(([prefix + i for i in items] for prefix in prefixes if {prefix + i for i in items} <= entries), [])


def _undeclared(value: str, stage_deps: set[str], stage_outs: set[str], produced: set[str], items: list[str]) -> list[str]:
    """What is wrong with how a stage declares path argument ``value`` (nothing when it is declared):
    the path itself, a folder read as all the files the pipeline puts in it, or one such entry per
    positional item."""
    if value in stage_deps or value in stage_outs:
        return []
    if any(_under(value, d) for d in stage_deps | stage_outs):  # a file of a declared folder (DVC tracks the folder's files)
        return []
    in_deps = {d for d in stage_deps if _under(d, value)}
    in_outs = {o for o in stage_outs if _under(o, value)}
    entries = {posixpath.relpath(p, value).split("/")[0] for p in in_deps | in_outs}
    per_item = _item_entries(entries, items)
    if per_item:  # the stage reads or writes only <folder>/<prefix><item>: each must be declared on its own
        return [p for e in per_item for p in _undeclared(posixpath.join(value, e), stage_deps, stage_outs, produced, [])]
    if in_deps and not in_outs:
        # a folder read as the files in it the stage uses: all that the pipeline puts there
        missing = sorted(p for p in produced if _under(p, value) and p not in in_deps)
        return [f"{value}: a folder declared by some of its files only; not declared: {missing}"] if missing else []
    if in_outs and not in_deps:
        parts = {posixpath.relpath(o, value) for o in in_outs}
        per_item = f", or one such entry per positional item {items}" if items else ""
        return [f"{value}: a folder written in parts {sorted(parts)}; declare the folder{per_item}"]
    return [f"{value}: declared neither in deps nor in outs/metrics/plots"]


def _git_ignored(path: str) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, capture_output=True, check=False)
    if done.returncode not in (0, 1):
        pytest.skip(f"git check-ignore failed: {done.stderr.decode().strip()}")
    return done.returncode == 0


def test_path_args_finds_every_option() -> None:
    cmd = "python stages/x.py ce kd --examples data/e.jsonl --frames 'a b.h5'\n--out models/x"
    assert list(path_args(cmd)) == [("examples", "data/e.jsonl"), ("frames", "a b.h5"), ("out", "models/x")]
    assert positional(cmd) == ["ce", "kd"] and positional("python stages/x.py --out y") == []
    assert interpolate("${paths.models}/student_${item}", {"paths": {"models": "models"}, "item": "ce"}) == "models/student_ce"


def test_declared_entries_per_positional_item() -> None:
    """A folder argument holding one entry per positional item counts as declared only when each entry is."""
    outs = {"models/student_ce", "models/student_kd", "dvclive/student_ce"}
    assert _undeclared("models", set(), outs, outs, ["ce", "kd"]) == []
    assert _undeclared("models", {"models/tokenizer"}, outs, outs, ["ce", "kd"]) == []  # another argument's folder
    assert _undeclared("dvclive", set(), outs, outs, ["ce"]) == []
    assert [p.split(";")[0] for p in _undeclared("dvclive/student_ce", set(), {"dvclive/student_ce/metrics.json"}, outs, [])] == [
        "dvclive/student_ce: a folder written in parts ['metrics.json']"]
    missing_item = _undeclared("models", set(), outs, outs, ["ce", "kd", "frame"])  # an item without its entry
    assert len(missing_item) == 1 and missing_item[0].endswith("one such entry per positional item ['ce', 'kd', 'frame']")
    deps = {"models/teacher", "models/student"}
    assert _undeclared("models", deps, set(), deps | {"models/exits"}, ["teacher", "student"]) == []
    assert _undeclared("models", deps, set(), deps | {"models/exits"}, []) == [
        "models: a folder declared by some of its files only; not declared: ['models/exits']"]


def test_a_path_inside_a_declared_folder_is_declared() -> None:
    """``--examples data/pretrain/examples.jsonl`` of a stage that depends on the whole ``data/pretrain``."""
    assert _undeclared("data/pretrain/examples.jsonl", {"data/pretrain"}, set(), {"data/pretrain"}, []) == []
    assert _undeclared("models/x/config.json", set(), {"models/x"}, {"models/x"}, []) == []
    assert _undeclared("data/pretrain_x/examples.jsonl", {"data/pretrain"}, set(), {"data/pretrain"}, []) == [
        "data/pretrain_x/examples.jsonl: declared neither in deps nor in outs/metrics/plots"]


def test_every_stage_is_resolved() -> None:
    names = {n.split("@")[0] for n in RESOLVED}
    assert names == set(STAGES)
    assert positional(RESOLVED["score"]["cmd"]) and positional(RESOLVED["train_student"]["cmd"])  # one stage, many roles
    assert not [n for n, s in RESOLVED.items() if "${" in str(s)], "unresolved ${...} left in dvc.yaml"


@pytest.mark.parametrize("name", sorted(RESOLVED))
def test_stage_declares_every_path_argument(name: str) -> None:
    stage = RESOLVED[name]
    stage_deps, stage_outs = deps(stage), outputs(stage)
    everything_produced = set().union(*(outputs(s) for s in RESOLVED.values()))
    args = list(path_args(stage["cmd"]))
    assert args, f"stage {name}: cmd passes no paths"
    problems = []
    for flag, raw in args:
        value = posixpath.normpath(raw)
        scratch = SCRATCH.get(flag)
        if scratch is not None:  # must stay out of DVC's way: in its folder, git-ignored, declared nowhere
            folder = posixpath.normpath(PATHS[scratch])
            declared_anywhere = [n for n, s in RESOLVED.items() if any(p == value or _under(p, value) for p in deps(s) | outputs(s))]
            if not (value == folder or _under(value, folder)) or not _git_ignored(value + "/") or declared_anywhere:
                problems.append(f"--{flag} {value}: untracked on purpose, so it must lie in the git-ignored "
                                f"{folder}/ and be declared by no stage (declared by {declared_anywhere})")
            continue
        problems += [f"--{flag} {p}" for p in _undeclared(value, stage_deps, stage_outs, everything_produced,
                                                            positional(stage["cmd"]))]
    assert not problems, f"stage {name}:\n  " + "\n  ".join(problems)


def test_untracked_paths_are_the_known_ones() -> None:
    """The exemptions above are in use (a stale one would only hide a future gap)."""
    used = {f for s in RESOLVED.values() for f, _ in path_args(s["cmd"])}
    assert set(SCRATCH) <= used
