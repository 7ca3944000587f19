"""OpenAPI descriptions of the two authentication schemes (loaded from IdentityConfig.ready()).

Each operation lists only the scheme that can pass its permission: app credentials for endpoints that require a
scope, session tokens for signed-in users' endpoints.
"""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


def _permissions(auto_schema) -> list:
    return list(getattr(auto_schema.view, "permission_classes", []))


class AppCredentialScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.AppCredentialAuthentication"
    name = "appCredentials"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic",
                "description": "Application credentials: public key pq_pk_… as user name, secret pq_sk_… as "
                               "password. Each endpoint requires one scope of the credential."}

    def get_security_requirement(self, auto_schema):
        from identity.permissions import IsSignedInUser

        return None if IsSignedInUser in _permissions(auto_schema) else {self.name: []}


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.SessionTokenAuthentication"
    name = "sessionToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A signed-in user's session token (pq_st_…), from POST /identity/otp/verify."}

    def get_security_requirement(self, auto_schema):
        from identity.permissions import ScopePermission

        requires_scope = any(isinstance(p, type) and issubclass(p, ScopePermission) for p in _permissions(auto_schema))
        return None if requires_scope else {self.name: []}
