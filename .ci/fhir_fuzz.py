"""A fuzz pass of the FHIR API against a live server, with hypothesis-generated requests.

    .ci/fhir_fuzz.py --write-weights DIR     a tiny random classifier and segmenter for the stack
    .ci/fhir_fuzz.py URL [--expect-analysis] fuzz the server at URL (the demo seed's logins)

/fhir/ has no OpenAPI description for schemathesis to read, so this does its job for FHIR: first
it uploads two demo photos through the REST API and (with ``--expect-analysis``) waits until the
stack's worker has analysed and outlined them, so that Observations, Devices and measurements
exist; then it sends generated requests to every interaction (reads of real and made-up ids of
every type, searches with generated parameters, $everything pages, posted Patients, valid and
mangled, other methods and paths) as a clinician of the seeded clinic, a clinician of the other
clinic and anonymously. The requests carry R4's search result parameters (_summary, _elements,
_total, _sort, _include, _pretty, _format), searches by POST (Patient/_search, $everything with
_type, _since, start and end, as a form or a Parameters resource) and the headers clients send
(Accept with XML and fhirVersion, Prefer handling and return, If-None-Exist, If-None-Match,
If-Modified-Since), and version reads (_history). Every answer must be below 500, FHIR JSON,
no-store, and parse with both FHIR model libraries (fhir.resources, and SMART's fhirclient R4
models, strict) as the resource, Bundle or OperationOutcome it says it is; only a 304 and a
create's ``Prefer: return=minimal`` may be empty; the other clinic's clinician must get 404 for
every record of the first. Exits 1 on the first failure, with hypothesis' smallest failing request.
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

EXAMPLES = 300  # per interaction: about 3,000 requests with shrinking, a few minutes on 2 cores
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
        if response.status_code == 304 or (
            not response.content and method == "POST" and response.status_code in {200, 201}
        ):  # a conditional read's answer, a create's Prefer: return=minimal
            if response.content:
                raise Failure(f"{where} answered {response.status_code} with a body")
            if not response.headers.get("etag", "").startswith('W/"'):
                raise Failure(f"{where} answered {response.status_code} without its ETag")
            if "no-store" not in response.headers.get("cache-control", ""):
                raise Failure(f"{where} answered Cache-Control {response.headers.get('cache-control')!r}")
            return response.status_code, {}
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
    from fhirclient.models.fhirelementfactory import FHIRElementFactory

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        element = FHIRElementFactory.instantiate(resource["resourceType"], resource)  # strict R4 models
        if element.resource_type != resource["resourceType"]:
            raise ValueError(f"fhirclient has no R4 model of {resource['resourceType']}")
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


def header_text(value: str) -> str:
    """``value`` as a header can carry it (HTTP clients send printable ASCII only)."""
    return "".join(character for character in value if " " <= character <= "~").strip()


def st_zone(moment: Any) -> str:
    """A time zone suffix for a generated instant: Z, an offset, or none (which _since refuses)."""
    return ["Z", "+02:00", "", "-05:30"][moment.microsecond % 4]


def fuzz(server: Server, ids: dict[str, list[str]], examples: int = EXAMPLES) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    settings.register_profile(
        "fuzz", max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
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

    accept = st.sampled_from(
        [
            "application/fhir+json",
            "application/fhir+xml",
            "application/xml;q=0.9, */*;q=0.1",
            "application/fhir+json; fhirVersion=4.0",
            "application/fhir+json; fhirVersion=3.0",
            "application/fhir+json; q=abc",
            "text/html",
            "*/*",
            ";;,,",
        ]
    )
    etags = st.one_of(text, st.sampled_from(['W/"0"', "*", 'W/"', '""', "W/"]))
    dates = st.one_of(text, st.sampled_from(["Mon, 01 Jan 2001 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT"]))
    read_headers = st.fixed_dictionaries(
        {}, optional={"Accept": accept, "If-None-Match": etags, "If-Modified-Since": dates}
    ).map(lambda headers: {name: header_text(value) for name, value in headers.items()})
    version = st.one_of(st.none(), text, st.sampled_from(["0", "abc", "1"]))

    @given(
        kind=st.sampled_from([*TYPES, "Encounter", "metadata"]),
        resource_id=ids_of,
        caller=callers,
        headers=read_headers,
        history=version,
        params=st.lists(st.tuples(st.sampled_from(["_summary", "_elements", "_format", "_pretty"]), text), max_size=2),
    )
    def reads(
        kind: str, resource_id: str, caller: str, headers: dict[str, str], history: str | None, params: list[Any]
    ) -> None:
        path = f"{kind}/{segment(resource_id)}" + (f"/_history/{segment(history)}" if history is not None else "")
        status, body = server.fhir("GET", path, caller, headers=headers, params=params)
        if status == 200 and body.get("resourceType") == kind and not body.get("meta", {}).get("versionId"):
            raise Failure(f"GET {path} answered a {kind} without meta.versionId")
        if caller == "cara" and resource_id in riverside and kind not in {"Device", "CodeSystem"}:
            # 406: the format asked for is refused before the record is looked up, whoever asks
            assert status in {404, 406, 429}, f"{kind}/{resource_id} answered {status} to another clinic's clinician"
        if caller == "anonymous" and kind not in {"CodeSystem", "metadata", "Encounter"}:
            assert status in {401, 404, 406, 429}, f"{kind}/{resource_id} answered {status} to anonymous"

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
        [
            "identifier",
            "family",
            "family:exact",
            "family:contains",
            "birthdate",
            "_id",
            "_count",
            "page",
            "_format",
            "_summary",
            "_elements",
            "_total",
            "_sort",
            "_pretty",
            "_include",
            "_revinclude",
            "_totalMethod",
        ]
    )
    result_value = st.sampled_from(
        [
            "0",
            "true",
            "false",
            "count",
            "data",
            "text",
            "none",
            "accurate",
            "estimate",
            "family",
            "-family",
            "given,-_id",
            "birthdate",
            "gender,name",
            "value",
            "json",
            "xml",
            "application/fhir+xml",
            "Patient:link",
        ]
    )
    search_headers = st.fixed_dictionaries(
        {},
        optional={
            "Prefer": st.sampled_from(["handling=strict", "handling=lenient", "handling", "return=minimal", ""]),
            "Accept": accept,
        },
    )
    search_params = st.lists(st.tuples(st.one_of(names, text), st.one_of(search_value, result_value)), max_size=4)

    @given(params=search_params, caller=callers, headers=search_headers)
    def searches(params: list[tuple[str, str]], caller: str, headers: dict[str, str]) -> None:
        status, body = server.fhir("GET", "Patient", caller, params=params, headers=headers)
        if status == 200 and body.get("resourceType") != "Bundle":
            raise Failure(f"a search answered {body.get('resourceType')}")

    @given(
        params=search_params,
        query=st.lists(st.tuples(names, search_value), max_size=1),
        caller=callers,
        headers=search_headers,
        content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/fhir+json", "text/plain"]),
    )
    def searches_by_post(
        params: list[tuple[str, str]], query: list[Any], caller: str, headers: dict[str, str], content_type: str
    ) -> None:
        server.fhir(
            "POST",
            "Patient/_search",
            caller,
            params=query,
            content=urllib.parse.urlencode(params),
            headers={**headers, "Content-Type": content_type},
        )

    moment = st.datetimes().map(lambda d: d.isoformat() + st_zone(d))
    everything_value = st.one_of(
        search_value,
        result_value,
        moment,
        st.sampled_from(["Patient", "Media,Observation", "DiagnosticReport,Encounter", "2024", "2024-05", "x"]),
    )
    everything_params = st.lists(
        st.tuples(
            st.sampled_from(
                ["_count", "page", "_since", "_format", "_type", "start", "end", "_summary", "_elements", "_total"]
            ),
            everything_value,
        ),
        max_size=4,
    )

    @given(
        patient=st.one_of(st.sampled_from(ids["Patient"]), st.uuids().map(str)),
        params=everything_params,
        caller=callers,
        how=st.sampled_from(["GET", "form", "Parameters", "Parameters-mangled"]),
        headers=search_headers,
    )
    def everything_pages(
        patient: str, params: list[tuple[str, str]], caller: str, how: str, headers: dict[str, str]
    ) -> None:
        path = f"Patient/{patient}/$everything"
        if how == "GET":
            status, _ = server.fhir("GET", path, caller, params=params, headers=headers)
        elif how == "form":
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            status, _ = server.fhir(
                "POST", path, caller, content=urllib.parse.urlencode(params), headers={**headers, **form}
            )
        else:
            parameters: Any = {
                "resourceType": "Parameters",
                "parameter": [{"name": name, "valueString": value} for name, value in params],
            }
            if how == "Parameters-mangled":
                parameters = {
                    "resourceType": "Parameters",
                    "parameter": [{"name": n, "valueInteger": [v]} for n, v in params],
                }
            fhir_json = {"Content-Type": "application/fhir+json"}
            status, _ = server.fhir(
                "POST", path, caller, content=json.dumps(parameters), headers={**headers, **fhir_json}
            )
        if caller == "cara" and patient in riverside:
            assert status in {400, 404, 406, 415, 429}, f"$everything of {patient} answered {status} to another clinic"

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

    create_headers = st.fixed_dictionaries(
        {},
        optional={
            "If-None-Exist": st.one_of(
                st.lists(st.tuples(st.one_of(names, text), search_value), max_size=2).map(urllib.parse.urlencode),
                st.sampled_from(ids["identifier"]).map(lambda token: f"identifier={urllib.parse.quote(token)}"),
                text.map(header_text),
            ),
            "Prefer": st.sampled_from(
                ["return=minimal", "return=representation", "return=OperationOutcome", "return=x", "handling=strict"]
            ),
        },
    )
    extras = st.fixed_dictionaries(
        {},
        optional={
            "telecom": st.just([{"system": "phone", "value": "0113 000 0000"}]),
            "address": st.just([{"city": "Leeds"}]),
            "extension": st.just([{"url": "http://example.org/x", "valueString": "y"}]),
            "modifierExtension": st.just([{"url": "http://example.org/m", "valueBoolean": True}]),
            "_birthDate": st.just({"extension": [{"url": "http://example.org/t", "valueString": "08:00"}]}),
        },
    )
    other_identifier = st.tuples(st.sampled_from(["urn:oid:1.2.3", "http://hospital.example/id", ""]), text)

    @given(
        resource=st.one_of(
            st.tuples(valid_patient, extras, st.lists(other_identifier, max_size=2)).map(
                lambda t: {
                    **t[0],
                    **t[1],
                    "identifier": [*t[0]["identifier"], *({"system": s, "value": v} for s, v in t[2])],
                }
            ),
            patient_resource,
            json_value,
        ),
        content_type=st.sampled_from(
            [
                "application/fhir+json",
                "application/json",
                "text/plain",
                "application/xml",
                "application/fhir+json; fhirVersion=5.0",
                "application/fhir+json; fhirVersion=4.0",
            ]
        ),
        caller=callers,
        headers=create_headers,
        query=st.lists(st.tuples(names, search_value), max_size=1),
    )
    def creates(resource: Any, content_type: str, caller: str, headers: dict[str, str], query: list[Any]) -> None:
        status, body = server.fhir(
            "POST",
            "Patient",
            caller,
            params=query,
            content=json.dumps(resource),
            headers={**headers, "Content-Type": content_type},
        )
        if status in {200, 201} and body and body.get("resourceType") not in {"Patient", "OperationOutcome"}:
            raise Failure(f"a create answered {status} with a {body.get('resourceType')}")

    @given(
        method=st.sampled_from(["PUT", "PATCH", "DELETE", "POST", "OPTIONS", "GET"]),
        path=st.one_of(
            st.tuples(
                st.sampled_from(
                    [*TYPES, "metadata", "", "Patient/x/$everything", "Patient/_search", "Patient/x/_history"]
                ),
                ids_of,
            ).map(lambda parts: f"{parts[0]}/{segment(parts[1])}"),
            text.map(segment),
        ),
        body=st.one_of(st.none(), json_value.map(json.dumps), st.binary(max_size=64)),
        caller=callers,
    )
    def other_requests(method: str, path: str, body: Any, caller: str) -> None:
        server.fhir(method, path, caller, content=body, headers={"Content-Type": "application/fhir+json"})

    for run in (reads, searches, searches_by_post, everything_pages, creates, other_requests):
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
    parser.add_argument("--examples", type=int, default=EXAMPLES, help=f"per interaction [{EXAMPLES}]")
    args = parser.parse_args()
    if args.write_weights:
        write_weights(args.write_weights)
        return 0
    if not args.url:
        parser.error("give the server's URL")
    server = Server(args.url)
    try:
        fuzz(server, known_ids(server, args.expect_analysis), args.examples)
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
