"""URLs of the APIs: the OAuth 2.0 token, authorization (the holder's consent page) and revocation
endpoints and the server's metadata, CSC v1 and v2, the batch and validation APIs, the
OpenAPI schema and its docs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.views import APIView

from signing.api import batch
from signing.api.csc import oauth as csc_oauth
from signing.api.csc import views as csc
from signing.api.token import token_view


@csrf_exempt
def csc_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything else under /csc/: a CSC error, not the HTML 404 page."""
    return JsonResponse({"error": "invalid_request", "error_description": _("Unknown method.")}, status=404)


def _csc(version: str) -> list:
    def view(cls: type[APIView], **kwargs: object) -> Callable[..., HttpResponseBase]:
        return cls.as_view(api_version=version, **kwargs)

    patterns = [
        path(f"csc/{version}/info", view(csc.InfoApi), name=f"csc_{version}_info"),
        path(f"csc/{version}/oauth2/token", token_view, name=f"csc_{version}_oauth2_token"),
        path(f"csc/{version}/oauth2/authorize", csc_oauth.authorize_view, name=f"csc_{version}_oauth2_authorize"),
        path(f"csc/{version}/oauth2/revoke", csc_oauth.revoke_view, name=f"csc_{version}_oauth2_revoke"),
        path(f"csc/{version}/credentials/list", view(csc.CredentialsListApi), name=f"csc_{version}_credentials_list"),
        path(f"csc/{version}/credentials/info", view(csc.CredentialsInfoApi), name=f"csc_{version}_credentials_info"),
        path(f"csc/{version}/credentials/sendOTP", view(csc.CredentialsSendOtpApi),
             name=f"csc_{version}_credentials_send_otp"),
        path(f"csc/{version}/credentials/authorize", view(csc.AuthorizeApi),
             name=f"csc_{version}_credentials_authorize"),
        path(f"csc/{version}/credentials/extendTransaction", view(csc.ExtendTransactionApi),
             name=f"csc_{version}_credentials_extend_transaction"),
        path(f"csc/{version}/signatures/signHash", view(csc.SignHashApi), name=f"csc_{version}_signatures_sign_hash"),
        path(f"csc/{version}/signatures/timestamp", view(csc.TimestampApi), name=f"csc_{version}_signatures_timestamp"),
    ]
    if version == "v2":
        patterns.append(
            path("csc/v2/signatures/signDoc", view(csc.SignDocApi), name="csc_v2_signatures_sign_doc"),
        )
    return patterns


urlpatterns = [
    path("oauth2/token", token_view, name="oauth2_token"),
    path("oauth2/revoke", csc_oauth.revoke_view, name="oauth2_revoke"),
    path(".well-known/oauth-authorization-server", csc_oauth.metadata_view, name="oauth_authorization_server"),
    *_csc("v1"),
    *_csc("v2"),
    re_path(r"^csc/(?P<rest>.*)$", csc_not_found),
    path("api/v1/batch/authorize", batch.BatchAuthorizeApi.as_view(), name="api_batch_authorize"),
    path("api/v1/batch/sign", batch.BatchSignApi.as_view(), name="api_batch_sign"),
    path("api/v1/batch/jobs/<str:job_id>", batch.BatchJobApi.as_view(), name="api_batch_job"),
    path("api/v1/validation", batch.ValidationApi.as_view(), name="api_validation"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
]
