"""The APIs for organization systems (SPEC §7): OAuth 2.0 client credentials, CSC v1/v2, OpenAPI."""
