"""The OpenAPI schema and its interactive docs (served from the sidecar package, no CDN)."""

from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

EXPECTED_OPERATIONS = {
    ("/api/v1/auth/token/", "post"),
    ("/api/v1/auth/token/", "delete"),
    ("/api/v1/auth/token/revoke/", "post"),
    ("/api/v1/patients/", "get"),
    ("/api/v1/patients/", "post"),
    ("/api/v1/patients/{uuid}/", "get"),
    ("/api/v1/patients/{uuid}/", "put"),
    ("/api/v1/patients/{uuid}/", "patch"),
    ("/api/v1/patients/{patient_uuid}/lesions/", "get"),
    ("/api/v1/patients/{patient_uuid}/lesions/", "post"),
    ("/api/v1/patients/{patient_uuid}/visits/", "get"),
    ("/api/v1/patients/{patient_uuid}/visits/", "post"),
    ("/api/v1/lesions/{uuid}/", "get"),
    ("/api/v1/lesions/{uuid}/", "put"),
    ("/api/v1/lesions/{uuid}/", "patch"),
    ("/api/v1/lesions/{lesion_uuid}/timeline/", "get"),
    ("/api/v1/lesions/{lesion_uuid}/followup/", "get"),
    ("/api/v1/flags/", "get"),
    ("/api/v1/flags/{uuid}/", "get"),
    ("/api/v1/flags/{uuid}/review/", "post"),
    ("/api/v1/worklists/", "get"),
    ("/api/v1/lesions/{lesion_uuid}/images/", "post"),
    ("/api/v1/visits/{uuid}/", "get"),
    ("/api/v1/visits/{uuid}/report/", "get"),
    ("/api/v1/visits/{uuid}/assessment/", "get"),
    ("/api/v1/visits/{uuid}/assessment/", "put"),
    ("/api/v1/visits/{uuid}/assessment/sign/", "post"),
    ("/api/v1/visits/{uuid}/assessment/addenda/", "post"),
    ("/api/v1/images/{uuid}/checklist/", "get"),
    ("/api/v1/images/{uuid}/checklist/", "put"),
    ("/api/v1/images/{uuid}/", "get"),
    ("/api/v1/images/{uuid}/file/", "get"),
    ("/api/v1/images/{uuid}/mask/", "get"),
    ("/api/v1/predictions/{uuid}/", "get"),
    ("/api/v1/predictions/{uuid}/heatmap/", "get"),
    ("/api/v1/predictions/{uuid}/cam/", "get"),
}


@pytest.fixture
def schema(client: Client, db: None) -> dict:
    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_documents_every_operation_with_request_and_response_types(schema: dict) -> None:
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}

    assert operations == EXPECTED_OPERATIONS
    for path, method in operations:
        operation = schema["paths"][path][method]
        assert any(code.startswith("2") for code in operation["responses"]), (path, method)
        bodiless = {"/api/v1/auth/token/revoke/", "/api/v1/visits/{uuid}/assessment/sign/"}
        if method in {"post", "put", "patch"} and path not in bodiless:
            assert "requestBody" in operation, (path, method)


def test_the_upload_is_a_multipart_request_with_an_idempotency_header(schema: dict) -> None:
    operation = schema["paths"]["/api/v1/lesions/{lesion_uuid}/images/"]["post"]

    assert list(operation["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"in": "header", "name": "Idempotency-Key"}.items() <= operation["parameters"][0].items()
    upload = schema["components"]["schemas"]["LesionImageUpload"]
    assert upload["properties"]["photo"]["format"] == "binary"
    assert set(upload["required"]) == {"photo", "image_type"}


def test_public_ids_are_uuids_and_integer_keys_never_appear(schema: dict) -> None:
    for name in ("Patient", "Lesion", "Visit", "LesionImage", "Prediction"):
        properties = schema["components"]["schemas"][name]["properties"]
        assert properties["id"]["format"] == "uuid", name
        assert "pk" not in properties


def test_token_auth_is_a_documented_security_scheme(schema: dict) -> None:
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_the_schema_validates_without_warnings(db: None) -> None:
    out = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert yaml.safe_load(out.getvalue())["openapi"].startswith("3.")


def test_the_docs_page_loads_swagger_ui_from_the_sidecar(client: Client, db: None) -> None:
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    # No inline script under the CSP: the page loads its start-up script, which names the schema.
    assert '<script src="/api/v1/docs/?script="></script>' in html
    script = client.get(reverse("api-docs"), {"script": ""})
    assert script["Content-Type"].startswith("application/javascript")
    assert reverse("api-schema") in script.content.decode()


def test_the_followup_contract_is_in_the_schema(schema: dict) -> None:
    components = schema["components"]["schemas"]
    followup = schema["paths"]["/api/v1/lesions/{lesion_uuid}/followup/"]["get"]["responses"]["200"]
    assert followup["content"]["application/json"]["schema"]["$ref"].endswith("/FollowUp")
    assert set(components["FollowUp"]["properties"]) >= {
        "baseline",
        "latest",
        "alignment",
        "change_from_baseline",
        "change_from_previous",
        "flags",
    }
    assert set(components["Alignment"]["properties"]) >= {"status", "quality", "scale", "rotation_deg"}
    assert set(components["Change"]["properties"]) >= {
        "area_ratio",
        "diameter_ratio",
        "new_colours",
        "mel_probability_delta",
        "comparable",
        "reason",
    }
    assert set(components["Flag"]["properties"]) >= {"id", "code", "status", "raised_at", "reviewed_by", "reason"}
    review = schema["paths"]["/api/v1/flags/{uuid}/review/"]["post"]
    ref = review["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert components[ref.rsplit("/", 1)[1]]["required"] == ["reason"]
