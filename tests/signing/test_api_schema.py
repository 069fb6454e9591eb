"""The OpenAPI schema and its browsable docs, served from local files under the unchanged CSP."""

from __future__ import annotations

import re

import yaml
from django.conf import settings


def test_the_schema_is_openapi_3_and_lists_the_endpoints(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else yaml.safe_load(
        response.content)
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for version in ("v1", "v2"):
        for method in ("info", "credentials/list", "credentials/info", "credentials/sendOTP",
                       "credentials/authorize", "signatures/signHash"):
            assert f"/csc/{version}/{method}" in paths
    assert "/csc/v2/signatures/signDoc" in paths
    assert "CSC" in {tag for path in schema["paths"].values() for op in path.values() for tag in op.get("tags", [])}


def test_the_docs_page_loads_from_local_files_with_the_csp_unchanged(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    html = response.content.decode()
    # No inline script or style, nothing from another origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/"), src
        asset = client.get(src.replace("&amp;", "&"))
        assert asset.status_code == 200, src
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in init.content.decode()


def _schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json() if response["Content-Type"].startswith("application/json") else yaml.safe_load(
        response.content)


def _request_properties(schema: dict, operation: dict) -> set[str]:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])


def test_csc_v2_operations_document_their_v2_bodies_and_v1_its_own(client, db):
    schema = _schema(client)
    v2 = {name: _request_properties(schema, schema["paths"][f"/csc/v2/{name}"]["post"])
          for name in ("credentials/authorize", "credentials/extendTransaction", "signatures/signHash")}
    assert {"authData", "hashes", "hashAlgorithmOID"} <= v2["credentials/authorize"]
    assert not {"PIN", "OTP", "hash"} & v2["credentials/authorize"]
    assert "hashes" in v2["credentials/extendTransaction"] and "hash" not in v2["credentials/extendTransaction"]
    assert {"hashes", "hashAlgorithmOID", "operationMode"} <= v2["signatures/signHash"]
    assert "hash" not in v2["signatures/signHash"]
    v1 = _request_properties(schema, schema["paths"]["/csc/v1/credentials/authorize"]["post"])
    assert {"PIN", "OTP", "hash"} <= v1 and "authData" not in v1


def test_every_operation_documents_its_errors_with_the_body_of_its_api(client, db):
    schema = _schema(client)
    operations = [(path, op) for path, item in schema["paths"].items() for op in item.values()]
    assert len(operations) == 27
    # The token and revocation endpoints answer with RFC 6749's own error body ({"error", "error_description"}).
    for path, operation in (item for item in operations if "/oauth2/" not in item[0]):
        errors = {int(code): answer for code, answer in operation["responses"].items() if int(code) >= 400}
        public = path.endswith("/info") and path.startswith("/csc/") and "credentials" not in path
        expected = {400, 413, 415} if public else {401, 403, 429}
        assert expected <= set(errors), path
        body = "CscError" if path.startswith("/csc/") else "ApiError"
        for code, answer in errors.items():
            assert answer["content"]["application/json"]["schema"]["$ref"].endswith(f"/{body}"), (path, code)
    by_path = {path: op for path, op in operations}
    assert {404, 410} <= set(map(int, by_path["/api/v1/batch/jobs/{job_id}"]["responses"]))
    assert 404 in set(map(int, by_path["/api/v1/batch/authorize"]["responses"]))
    assert {"error", "error_description", "error_details"} == set(
        schema["components"]["schemas"]["CscError"]["properties"])
    assert {"code", "message", "fields"} == set(schema["components"]["schemas"]["ApiError"]["properties"])
