"""The APIs for organization systems: OAuth 2.0 client credentials, CSC v1/v2, OpenAPI."""
