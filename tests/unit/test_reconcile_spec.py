"""The reconciler's spec and command line: every bad input is one line naming the file and the key, exit 1,
never a traceback, and always before any connection to Milvus."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import graph_for
from tools import plan as plan_command
from topology.reconcile import (
    COLLECTION_FIELDS,
    GROUP_FIELDS,
    INDEX_FIELDS,
    SPEC_FIELDS,
    Spec,
    SpecError,
    load_spec,
    main,
    parse_spec,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "reconciler_bad"
EXPECTED: dict[str, list[str]] = json.loads((CORPUS / "expected.json").read_text())
# Nothing listens on the discard port: a case that got past validation would try to connect and print
# "waiting for Milvus", which the test refuses.
UNREACHABLE = "http://127.0.0.1:9"


def valid_spec() -> dict:
    return {
        "resourceGroups": [{"name": "rg_a", "nodes": 1}],
        "databases": ["search"],
        "collections": [
            {"database": "search", "name": "docs", "dim": 8, "metric": "COSINE",
             "index": {"type": "HNSW", "params": {"M": 16, "efConstruction": 200}},
             "shards": 2, "replicas": 1, "resourceGroups": ["rg_a"]},
        ],
    }  # fmt: skip


def test_corpus_lists_every_case_file():
    files = {p.name for p in CORPUS.iterdir()} - {"expected.json"}
    assert files == set(EXPECTED)


def _argv(case: Path, tmp_path: Path) -> list[str]:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(valid_spec()))
    base = ["--uri", UNREACHABLE, "--timeout", "5", "--spec", str(spec)]
    if case.suffix != ".args":
        return [*base, "--spec", str(case)]
    places = {"dir": str(tmp_path), "missing": str(tmp_path / "missing.json"), "corpus": str(CORPUS)}
    return [*base, *(line.format(**places) for line in case.read_text().splitlines())]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_is_one_line_exit_1_naming_the_key(name: str, tmp_path: Path):
    case = CORPUS / name
    done = subprocess.run(
        [sys.executable, "-m", "topology.reconcile", *_argv(case, tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "waiting for Milvus" not in done.stderr, "failed only after trying to connect"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for expected in EXPECTED[name]:
        assert expected in lines[0]
    if case.suffix != ".args":
        assert str(case) in lines[0], "the message names the spec file"


def test_message_names_the_file_and_the_path_with_a_suggestion(tmp_path: Path):
    spec = valid_spec()
    spec["collections"][0]["shard"] = 4
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path))
    assert str(caught.value) == f"{path}: collections[0].shard: unknown field; did you mean 'shards'?"


@pytest.mark.parametrize(
    ("where", "fields"),
    [
        ((), SPEC_FIELDS),
        (("resourceGroups", 0), GROUP_FIELDS),
        (("collections", 0), COLLECTION_FIELDS),
        (("collections", 0, "index"), INDEX_FIELDS),
    ],
)
def test_unknown_fields_are_refused_at_every_depth(where, fields):
    spec = valid_spec()
    target = spec
    for step in where:
        target = target[step]
    assert set(target) <= set(fields)
    target["zzz_unknown"] = 1
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    path = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in where).lstrip(".")
    expected = f"{path}.zzz_unknown" if path else "zzz_unknown"
    assert caught.value.problems == (f"{expected}: unknown field; expected one of {', '.join(fields)}",)


def test_every_problem_is_reported_at_once():
    spec = valid_spec()
    spec["collections"][0]["replica"] = 3
    spec["resourceGroups"][0]["node"] = 2
    spec["collections"].append(dict(spec["collections"][0], replica=None))
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "resourceGroups[0].node", "collections[0].replica", "collections[1].replica", "collections[1]",
    ]  # fmt: skip


def test_a_valid_spec_round_trips(tmp_path: Path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(valid_spec()))
    spec = load_spec(str(path))
    assert [c.key for c in spec.collections] == ["search.docs"]
    assert spec.collections[0].index_params == {"M": 16, "efConstruction": 200}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_spec_the_program_writes_passes(stack: str, tmp_path: Path):
    # The spec as the Job gets it: what `python -m tools.plan STACK --out DIR` writes from the topology ConfigMap
    # (run here on the suite's shared recording of the program).
    plan_command.write(plan_command.build(stack, graph=graph_for(stack)).files, tmp_path)
    spec = load_spec(str(tmp_path / "topology" / "spec.json"))
    assert spec.collections, "the stack declares collections"


# Any JSON value, with the spec's own keys mixed in so generation reaches the nested checks.
_keys = st.sampled_from([*SPEC_FIELDS, *GROUP_FIELDS, *COLLECTION_FIELDS, *INDEX_FIELDS, "params", "M"]) | st.text(
    max_size=8
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=40,
)


@given(_json)
@settings(max_examples=300, deadline=None)
def test_any_json_document_is_a_spec_or_one_spec_error(document):
    try:
        result = parse_spec(document)
    except SpecError as error:
        assert error.problems and all("\n" not in p for p in error.problems)
    else:
        assert isinstance(result, Spec)


@given(st.binary(max_size=200) | _json.map(lambda d: json.dumps(d).encode()))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_file_content_is_a_spec_or_one_spec_error(content: bytes):
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        handle.write(content)
        handle.flush()
        try:
            load_spec(handle.name)
        except SpecError as error:
            assert str(error).startswith(f"{handle.name}: ") and "\n" not in str(error)


@given(_json)
@settings(max_examples=100, deadline=None)
def test_the_cli_answers_any_invalid_document_with_one_line(document):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(document, handle)
        handle.flush()
        try:
            load_spec(handle.name)
            return  # a valid spec would go on to connect; the corpus and the integration tests cover that
        except SpecError:
            pass
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["--uri", UNREACHABLE, "--timeout", "1", "--spec", handle.name])
    assert code == 1
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {handle.name}: ")


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "0", "1e400", "x"])
def test_timeouts_that_could_retry_forever_are_refused(text: str, capsys):
    assert main(["--uri", UNREACHABLE, "--spec", "unused.json", "--timeout", text]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--timeout" in err[0]
