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
