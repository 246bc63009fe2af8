"""A fuzz pass of the FHIR API against a live server, with hypothesis-generated requests.

    .ci/fhir_fuzz.py --write-weights DIR     a tiny random classifier and segmenter for the stack
    .ci/fhir_fuzz.py URL [--expect-analysis] fuzz the server at URL (the demo seed's logins)

/fhir/ has no OpenAPI description for schemathesis to read, so this does its job for FHIR: first
it uploads two demo photos through the REST API and (with ``--expect-analysis``) waits until the
stack's worker has analysed and outlined them, so that Observations, Devices and measurements
exist; then it sends generated requests to every interaction (reads of real and made-up ids of
every type, searches with generated parameters, $everything pages, posted Patients, valid and
mangled, other methods and paths) as a clinician of the seeded clinic, a clinician of the other
clinic and anonymously. Every answer must be below 500, FHIR JSON, no-store, and parse with the
FHIR library (fhir.resources) as the resource, Bundle or OperationOutcome it says it is; the
other clinic's clinician must get 404 for every record of the first. Exits 1 on the first
failure, with hypothesis' smallest failing request.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EXAMPLES = 300  # per interaction: about 2,000 requests with shrinking, a minute or two on 2 cores
PASSWORD = "dermatrack-demo"
TYPES = ["Patient", "BodyStructure", "Media", "Observation", "DiagnosticReport", "Device", "CodeSystem"]


def write_weights(folder: Path) -> None:
    """A tiny random classifier that passes the quality bar (so it analyses) and a random segmenter."""
    import torch

    from ml.engine.segmentation.model import LesionUNet, save_segmentation_model
    from tests.ml.engine.synthetic import write_tiny_model

    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "test": {
            "images": 100,
            "metrics": {
                "accuracy": 0.9,
                "balanced_accuracy": 0.8,
                "melanoma": {"sensitivity": 0.9},
                "melanoma_flag": {"threshold": 0.2, "sensitivity": 0.95, "specificity": 0.85},
            },
        }
    }
    write_tiny_model(folder, "tiny_fuzz_model", temperature=1.5, metrics=metrics)
    torch.manual_seed(0)
    save_segmentation_model(
        LesionUNet(decoder_channels=(8, 8, 8, 8)).eval(),
        folder / "tiny_fuzz_segmenter.json",
        name="tiny_fuzz_segmenter",
        encoder="tf_efficientnet_lite0",
        decoder_channels=[8, 8, 8, 8],
        input_size=[3, 48, 60],
    )
    print(f"wrote a tiny classifier and segmenter to {folder}")


class Failure(AssertionError):
    pass


class Server:
    def __init__(self, url: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=120, follow_redirects=False)
        self.statuses: collections.Counter[int] = collections.Counter()
        self.tokens = {"ben": self.login("dr.ben"), "cara": self.login("dr.cara"), "anonymous": None}

    def login(self, username: str) -> str:
        response = self.client.post("/api/v1/auth/token/", data={"username": username, "password": PASSWORD})
        response.raise_for_status()
        return response.json()["token"]

    def headers(self, caller: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        token = self.tokens[caller]
        return {**({"Authorization": f"Token {token}"} if token else {}), **(extra or {})}

    def fhir(self, method: str, path: str, caller: str = "ben", **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One request under /fhir/, checked: below 500, FHIR JSON, no-store, a valid resource."""
        headers = self.headers(caller, kwargs.pop("headers", None))
        response = self.client.request(method, f"/fhir/{path}", headers=headers, **kwargs)
        self.statuses[response.status_code] += 1
        where = f"{method} /fhir/{path} {kwargs.get('params') or ''} as {caller}"
        if response.status_code >= 500:
            raise Failure(f"server error {response.status_code} for {where}:\n{response.text[:2000]}")
        if not response.headers.get("content-type", "").startswith("application/fhir+json"):
            raise Failure(f"{where} answered {response.headers.get('content-type')!r}, not FHIR JSON")
        if "no-store" not in response.headers.get("cache-control", ""):
            raise Failure(f"{where} answered Cache-Control {response.headers.get('cache-control')!r}")
        body = response.json()
        validate(body, where)
        if response.status_code >= 400 and body.get("resourceType") != "OperationOutcome":
            raise Failure(f"{where} answered {response.status_code} without an OperationOutcome")
        return response.status_code, body


def validate(resource: dict[str, Any], where: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
            validate(entry["resource"], where)
    except Exception as exc:
        raise Failure(f"{where}: the answer is not valid FHIR: {exc}\n{json.dumps(resource)[:2000]}") from exc


# --- set-up: real records to fuzz around -----------------------------------------------------


def everything(server: Server, patient_id: str) -> list[dict[str, Any]]:
    _, bundle = server.fhir("GET", f"Patient/{patient_id}/$everything", params={"_count": "100"})
    return [entry["resource"] for entry in bundle.get("entry", [])]


def known_ids(server: Server, expect_analysis: bool) -> dict[str, list[str]]:
    _, bundle = server.fhir("GET", "Patient", params={"_count": "100"})
    patients = [entry["resource"]["id"] for entry in bundle["entry"]]
    target = patients[0]
    lesion = next(r["id"] for r in everything(server, target) if r["resourceType"] == "BodyStructure")
    photos = sorted((REPO / "lesions" / "fixtures" / "ham10000_sample" / "images").glob("*.jpg"))[:2]
    for photo in photos:
        response = server.client.post(
            f"/api/v1/lesions/{lesion}/images/",
            headers=server.headers("ben"),
            data={"image_type": "dermoscopic", "mm_per_pixel": "0.02"},
            files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")},
        )
        if response.status_code != 201:
            raise Failure(f"uploading a demo photo answered {response.status_code}: {response.text[:500]}")
    deadline = time.monotonic() + 300
    while True:
        resources = everything(server, target)
        done = [r for r in resources if r["resourceType"] == "Observation"]
        if len(done) >= len(photos) or not expect_analysis:
            break
        if time.monotonic() > deadline:
            raise Failure("the uploaded photos were not analysed within 300 s (is the worker running?)")
        time.sleep(2)
    ids: dict[str, list[str]] = collections.defaultdict(list)
    ids["Patient"] = patients
    for patient in patients[:3]:
        for resource in everything(server, patient):
            if resource["resourceType"] != "Patient":
                ids[resource["resourceType"]].append(resource["id"])
    ids["CodeSystem"] = ["ham10000-class", "analysis", "image-type"]
    ids["identifier"] = [
        f"{identifier['system']}|{identifier['value']}"
        for entry in bundle["entry"]
        for identifier in entry["resource"]["identifier"]
    ]
    counts = {kind: len(values) for kind, values in ids.items()}
    print(f"fuzzing around {counts}")
    if expect_analysis and not (ids["Observation"] and ids["Device"]):
        raise Failure(f"no Observation or Device to fuzz: {counts}")
    measured = [
        c
        for r in resources
        if r["resourceType"] == "Observation"
        for c in r.get("component", [])
        if c["code"]["coding"][0]["code"].startswith("lesion-")
    ]
    print(f"{len(measured)} outline measurement components among the uploaded photos' analyses")
    return ids


# --- the fuzz pass ---------------------------------------------------------------------------


def fuzz(server: Server, ids: dict[str, list[str]]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    settings.register_profile(
        "fuzz", max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    settings.load_profile("fuzz")
    text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
    callers = st.sampled_from(["ben", "ben", "cara", "anonymous"])
    all_ids = [value for kind, values in ids.items() if kind != "identifier" for value in values]
    system = ids["identifier"][0].partition("|")[0]
    ids_of = st.one_of(st.sampled_from(all_ids), st.uuids().map(str), text)
    riverside = {
        value for kind, values in ids.items() if kind not in {"Device", "CodeSystem", "identifier"} for value in values
    }
    json_value = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=8,
    )

    def segment(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    @given(kind=st.sampled_from([*TYPES, "Encounter", "metadata"]), resource_id=ids_of, caller=callers)
    def reads(kind: str, resource_id: str, caller: str) -> None:
        status, _ = server.fhir("GET", f"{kind}/{segment(resource_id)}", caller)
        if caller == "cara" and resource_id in riverside and kind not in {"Device", "CodeSystem"}:
            assert status in {404, 429}, f"{kind}/{resource_id} answered {status} to another clinic's clinician"
        if caller == "anonymous" and kind not in {"CodeSystem", "metadata", "Encounter"}:
            assert status in {401, 404, 429}, f"{kind}/{resource_id} answered {status} to anonymous"

    date = st.dates().map(lambda d: d.isoformat())
    search_value = st.one_of(
        text,
        date,
        st.tuples(st.sampled_from(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "ap"]), date).map("".join),
        st.tuples(text, text).map("|".join),
        st.integers(-5, 10**12).map(str),
        st.sampled_from(ids["identifier"]),
        st.sampled_from(ids["identifier"]).map(lambda token: token.partition("|")[2]),
    )
    names = st.sampled_from(
        ["identifier", "family", "family:exact", "family:contains", "birthdate", "_id", "_count", "page", "_format"]
    )

    @given(params=st.lists(st.tuples(st.one_of(names, text), search_value), max_size=4), caller=callers)
    def searches(params: list[tuple[str, str]], caller: str) -> None:
        server.fhir("GET", "Patient", caller, params=params)

    @given(
        patient=st.one_of(st.sampled_from(ids["Patient"]), st.uuids().map(str)),
        params=st.lists(st.tuples(st.sampled_from(["_count", "page", "_since", "_format"]), search_value), max_size=3),
        caller=callers,
    )
    def everything_pages(patient: str, params: list[tuple[str, str]], caller: str) -> None:
        status, _ = server.fhir("GET", f"Patient/{patient}/$everything", caller, params=params)
        if caller == "cara" and patient in riverside:
            assert status in {400, 404, 429}, f"$everything of {patient} answered {status} to another clinic"

    names_ = st.lists(
        st.fixed_dictionaries({}, optional={"family": text, "given": st.lists(text, max_size=2), "use": text}),
        max_size=2,
    )
    patient_resource = st.fixed_dictionaries(
        {"resourceType": st.sampled_from(["Patient", "Patient", "Observation", ""])},
        optional={
            "identifier": st.lists(st.fixed_dictionaries({}, optional={"system": text, "value": text}), max_size=2),
            "name": names_,
            "gender": st.sampled_from(["male", "female", "other", "unknown", "f", ""]),
            "birthDate": st.one_of(date, text),
            "id": text,
            "active": json_value,
            "telecom": json_value,
        },
    )

    words = text.filter(lambda value: value.strip() != "")
    valid_patient = st.fixed_dictionaries(
        {
            "resourceType": st.just("Patient"),
            "identifier": st.tuples(st.just(system), words).map(lambda t: [{"system": t[0], "value": t[1]}]),
            "name": st.tuples(words, words).map(lambda t: [{"family": t[0], "given": [t[1]]}]),
        },
        optional={"gender": st.sampled_from(["male", "female", "other", "unknown"]), "birthDate": date},
    )

    @given(
        resource=st.one_of(valid_patient, patient_resource, json_value),
        content_type=st.sampled_from(["application/fhir+json", "application/json", "text/plain", "application/xml"]),
        caller=callers,
    )
    def creates(resource: Any, content_type: str, caller: str) -> None:
        server.fhir("POST", "Patient", caller, content=json.dumps(resource), headers={"Content-Type": content_type})

    @given(
        method=st.sampled_from(["PUT", "PATCH", "DELETE", "POST", "OPTIONS", "GET"]),
        path=st.one_of(
            st.tuples(st.sampled_from([*TYPES, "metadata", "", "Patient/x/$everything"]), ids_of).map(
                lambda parts: f"{parts[0]}/{segment(parts[1])}"
            ),
            text.map(segment),
        ),
        body=st.one_of(st.none(), json_value.map(json.dumps), st.binary(max_size=64)),
        caller=callers,
    )
    def other_requests(method: str, path: str, body: Any, caller: str) -> None:
        server.fhir(method, path, caller, content=body, headers={"Content-Type": "application/fhir+json"})

    for run in (reads, searches, everything_pages, creates, other_requests):
        started = time.monotonic()
        before = sum(server.statuses.values())
        run()
        sent = sum(server.statuses.values()) - before
        print(f"{run.__name__}: {sent} requests in {time.monotonic() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--write-weights", type=Path, help="write the tiny models to this folder and exit")
    parser.add_argument("--expect-analysis", action="store_true", help="fail unless the uploads get analysed")
    args = parser.parse_args()
    if args.write_weights:
        write_weights(args.write_weights)
        return 0
    if not args.url:
        parser.error("give the server's URL")
    server = Server(args.url)
    try:
        fuzz(server, known_ids(server, args.expect_analysis))
    except (AssertionError, ExceptionGroup) as failure:  # hypothesis groups distinct failures
        print(f"FHIR fuzz pass FAILED: {failure!r}", file=sys.stderr)
        for part in getattr(failure, "exceptions", ()):
            print(f"  - {part}", file=sys.stderr)
        return 1
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(server.statuses.items()))
    print(f"FHIR fuzz pass: {sum(server.statuses.values())} requests, no server error ({statuses})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
